"""The Gradio annotation app: one clip at a time, Aligned / Not aligned / Skip, saved before moving on.

Everything a person types or a dataset holds is shown in plain text boxes, never as HTML or Markdown,
so a caption or an annotator name cannot inject markup or script. The keyboard shortcuts (A, N, S,
U) are a small script that clicks the buttons; they are ignored while typing in a text box.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from baton_tta.annotate.clips import INSTRUCTIONS, ClipSet
from baton_tta.annotate.store import LABELS, LabelStore, normalise_annotator
from baton_tta.extras import require

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

require("gradio", "the annotation app (baton-tta annotate)")  # says which extra when it is missing
import gradio as gr  # noqa: E402

SHORTCUTS_JS = """
() => {
  const keys = {a: "btn-aligned", n: "btn-not-aligned", s: "btn-skip", u: "btn-undo"};
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const id = keys[event.key.toLowerCase()];
    const button = id && document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
  });
}
"""


NO_ANNOTATOR = "Enter your annotator name and press Start first."


@dataclass
class View:
    """What the page shows after an action."""

    annotator: str | None = None
    clip_id: str | None = None
    progress: str = ""
    prompt: str = ""
    task: str = ""
    instructions: str = ""
    audio: tuple | None = None
    status: str = ""
    added: int | None = None  # the store row this action wrote (the session may undo it)
    undone: int | None = None  # the store row this action withdrew


class Annotator:
    """The app's logic, free of Gradio: every method takes the session state and returns a View."""

    def __init__(self, clips: ClipSet, store: LabelStore, instructions: dict[str, str] | None = None):
        self.clips = clips
        self.store = store
        self.instructions = {**INSTRUCTIONS, **(instructions or {})}

    def _next_view(self, annotator: str, status: str, clip_id: str | None = None) -> View:
        done = {c for c in self.store.labelled_by(annotator) if c in self.clips}
        progress = f"{len(done)} / {len(self.clips)} labelled by {annotator}"
        if clip_id is None:
            clip_id = next((c for c in self.clips.order_for(annotator) if c not in done), None)
        if clip_id is None:
            return View(annotator, progress=progress, status=status or "All clips are labelled. Thank you!")
        clip = self.clips.clip(clip_id)
        events = " · ".join(clip.events)  # not commas: display names hold commas ("Beep, bleep")
        task = f"{clip.task}: {events}" if events else clip.task
        return View(
            annotator,
            clip_id,
            progress,
            clip.prompt,
            task,
            self.instructions.get(clip.task, ""),
            self.clips.waveform(clip_id),
            status,
        )

    def start(self, name: str, logged_in: str | None = None) -> View:
        """Begin (or resume) at the next clip this annotator has not labelled. With a login, the
        logged-in user *is* the annotator, whatever was typed."""
        try:
            annotator = normalise_annotator(logged_in if logged_in is not None else name)
        except ValueError as error:
            return View(status=str(error))
        how = " (your login)" if logged_in is not None else ""
        return self._next_view(annotator, f"Labelling as {annotator}{how}.")

    def label(
        self, annotator: str | None, clip_id: str | None, label: int, logged_in: str | None = None
    ) -> View:
        """Commit ``label`` for the clip on screen, then show the next one."""
        if logged_in is not None and annotator != normalise_annotator(logged_in):
            return View(status=f"You are logged in as {normalise_annotator(logged_in)}: press Start.")
        if annotator is None:
            return View(status=NO_ANNOTATOR)
        if clip_id is None:
            return self._next_view(annotator, "Nothing to label.")
        added = self.store.add(clip_id, annotator, label)
        view = self._next_view(annotator, "Saved.")
        view.added = added
        return view

    def undo(self, annotator: str | None, own_labels: list[int]) -> View:
        """Withdraw the newest label this session added (never another session's or person's) and
        show that clip again."""
        if annotator is None:
            return View(status=NO_ANNOTATOR)
        vote = self.store.undo(own_labels[-1], annotator) if own_labels else None
        if vote is None:
            return self._next_view(annotator, "Nothing to undo in this session.")
        view = (
            self._next_view(annotator, "Undid a label of a clip from another dataset.")
            if vote.clip_id not in self.clips
            else self._next_view(annotator, "Undone: label it again.", clip_id=vote.clip_id)
        )
        view.undone = vote.id
        return view


def _login(request: gr.Request | None) -> str | None:
    """The logged-in user when the app runs with auth (Gradio sets ``request.username``)."""
    return getattr(request, "username", None) or None


def _hub_login(profile: gr.OAuthProfile | None) -> str:
    """The Hugging Face username of a signed-in visitor (OAuth); "" before signing in, which
    :meth:`Annotator.start` refuses with its "enter your annotator name" message."""
    return profile.username if profile is not None else ""


def build_app(
    annotator: Annotator, title: str = "BATON annotation", with_login: bool = False, oauth: bool = False
) -> gr.Blocks:
    """The page. Element ids (``annotator``, ``btn-aligned`` …) are stable: tests and shortcuts use them.
    ``with_login``: the app runs with auth, so the name box is the login and cannot be edited.
    ``oauth``: visitors sign in with Hugging Face (a Space's OAuth; mocked with the local token
    elsewhere) and their Hub username is the annotator."""
    with_login = with_login or oauth
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"## {title}\nListen to the clip, then answer: does it match the caption?")
        if oauth:
            gr.LoginButton(elem_id="hub-login")
        state = gr.State({"annotator": None, "clip_id": None, "mine": []})
        with gr.Row():
            name = gr.Textbox(
                label="Annotator (your login)" if with_login else "Annotator name",
                elem_id="annotator",
                max_lines=1,
                scale=4,
                interactive=not with_login,
            )
            start = gr.Button("Start", elem_id="start", scale=1)
        progress = gr.Textbox(label="Progress", elem_id="progress", interactive=False)
        prompt = gr.Textbox(label="Caption", elem_id="prompt", interactive=False)
        with gr.Row():
            task = gr.Textbox(label="Task and events", elem_id="task", interactive=False)
            instructions = gr.Textbox(label="Instructions", elem_id="instructions", interactive=False)
        audio = gr.Audio(label="Clip", elem_id="audio", interactive=False, type="numpy", buttons=["download"])
        with gr.Row():
            aligned = gr.Button("Aligned (A)", elem_id="btn-aligned", variant="primary")
            not_aligned = gr.Button("Not aligned (N)", elem_id="btn-not-aligned", variant="stop")
            skip = gr.Button("Skip (S)", elem_id="btn-skip")
            undo = gr.Button("Undo last (U)", elem_id="btn-undo")
        status = gr.Textbox(label="Status", elem_id="status", interactive=False)
        outputs = [state, progress, prompt, task, instructions, audio, status]

        def render(view: View, mine: list[int] | None = None) -> list:
            mine = [i for i in (mine or []) if i != view.undone]
            if view.added is not None:
                mine.append(view.added)
            session = {"annotator": view.annotator, "clip_id": view.clip_id, "mine": mine}
            return [
                session,
                view.progress,
                view.prompt,
                view.task,
                view.instructions,
                view.audio,
                view.status,
            ]

        def start_signed_in(typed: str, profile: gr.OAuthProfile | None) -> list:
            return render(annotator.start(typed, _hub_login(profile)))

        def start_with_auth(typed: str, request: gr.Request) -> list:
            return render(annotator.start(typed, _login(request)))

        def label_signed_in(value: int):
            def handler(session: dict, profile: gr.OAuthProfile | None) -> list:
                view = annotator.label(session["annotator"], session["clip_id"], value, _hub_login(profile))
                return render(view, session.get("mine"))

            return handler

        def label_with_auth(value: int):
            def handler(session: dict, request: gr.Request) -> list:
                view = annotator.label(session["annotator"], session["clip_id"], value, _login(request))
                return render(view, session.get("mine"))

            return handler

        # Gradio injects the OAuth profile or the request by the handler's signature
        on_start = start_signed_in if oauth else start_with_auth
        on_label = label_signed_in if oauth else label_with_auth

        def on_undo(session: dict) -> list:
            return render(annotator.undo(session["annotator"], session.get("mine", [])), session.get("mine"))

        def show_annotator(session: dict, typed: str) -> str:
            """The name box shows who is labelling: the login when there is one."""
            return session.get("annotator") or typed

        for event in (
            start.click(on_start, inputs=name, outputs=outputs, api_name="start"),
            name.submit(on_start, inputs=name, outputs=outputs, api_name=False),
        ):
            event.then(show_annotator, inputs=[state, name], outputs=name, api_name=False)
        for button, key in ((aligned, "aligned"), (not_aligned, "not_aligned"), (skip, "skip")):
            button.click(on_label(LABELS[key]), inputs=state, outputs=outputs, api_name=key)
        undo.click(on_undo, inputs=state, outputs=outputs, api_name="undo")
        if with_login:  # the login is the name: start straight away
            app.load(on_start, inputs=name, outputs=outputs, api_name=False).then(
                show_annotator, inputs=[state, name], outputs=name, api_name=False
            )
    return app


def launch_app(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    auth: list[tuple[str, str]] | None = None,
    prevent_thread_lock: bool = False,
):
    """Serve on ``host`` (loopback unless asked otherwise), with the shortcuts script and optional
    username/password auth; ``share`` opens a public Gradio link and is off unless asked for."""
    return app.queue(default_concurrency_limit=4).launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        js=SHORTCUTS_JS,
        prevent_thread_lock=prevent_thread_lock,
        footer_links=[],
    )
