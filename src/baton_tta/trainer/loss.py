"""The losses of BATON (paper Eq. 5–7), Diffusion-DPO (Tango 2; with CRPO's chosen-clip term) and
Diffusion-KTO, and GRPO's clipped surrogate, as pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_sample_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖target − prediction‖² averaged over every dimension but the batch, in float32."""
    error = F.mse_loss(prediction.float(), target.float(), reduction="none")
    return error.mean(dim=tuple(range(1, error.dim())))


def transform_rewards(rewards: torch.Tensor, kind: str) -> torch.Tensor:
    """f(r) of paper Eq. 7: the reward itself (official code) or exp(r) (paper text)."""
    if kind == "identity":
        return rewards
    if kind == "exp":
        return torch.exp(rewards)
    raise ValueError(f"unknown reward transform {kind!r}")


def reward_weighted_loss(
    preference_mse: torch.Tensor,
    rewards: torch.Tensor,
    preference_weights: torch.Tensor,
    pretrain_mse: torch.Tensor | None = None,
    pretrain_weights: torch.Tensor | None = None,
    beta: float = 0.5,
    reward_transform: str = "identity",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """BATON's objective, paper Eq. 7:

    ``L = mean_i f(r_i)·w_i·‖target_i − pred_i‖²  +  β · mean_j w_j·‖target_j − pred_j‖²``

    over a preference batch i (rewards r) and a pretrain batch j, with Min-SNR weights w (ones when
    off). Returns the loss and its two terms for logging.
    """
    preference_term = (
        transform_rewards(rewards.float(), reward_transform) * preference_weights * preference_mse
    ).mean()
    if pretrain_mse is None or pretrain_weights is None or beta == 0:
        pretrain_term = preference_term.new_zeros(())
    else:
        pretrain_term = (pretrain_weights * pretrain_mse).mean()
    loss = preference_term + beta * pretrain_term
    return loss, {"loss_preference": preference_term.detach(), "loss_pretrain": pretrain_term.detach()}


def diffusion_dpo_loss(
    model_mse_chosen: torch.Tensor,
    model_mse_rejected: torch.Tensor,
    reference_mse_chosen: torch.Tensor,
    reference_mse_rejected: torch.Tensor,
    beta: float,
    rpo_alpha: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Diffusion-DPO (Wallace et al. 2023; Tango 2): with chosen/rejected noised by the same noise and
    timestep, ``−log σ(−β/2 · ((e_θ(w) − e_θ(l)) − (e_ref(w) − e_ref(l))))``, e = per-sample MSE;
    with ``rpo_alpha`` (TRL's name) plus ``rpo_alpha · mean e_θ(w)``, the chosen clips' own
    denoising loss (TangoFlux's CRPO)."""
    model_diff = model_mse_chosen - model_mse_rejected
    reference_diff = reference_mse_chosen - reference_mse_rejected
    inside = -0.5 * beta * (model_diff - reference_diff)
    dpo = -F.logsigmoid(inside).mean()
    metrics = {
        "loss_dpo": dpo.detach(),
        "dpo_implicit_accuracy": (inside > 0).float().mean().detach(),
        "dpo_model_diff": model_diff.mean().detach(),
    }
    if not rpo_alpha:
        return dpo, metrics
    chosen = model_mse_chosen.mean()
    metrics["loss_chosen"] = chosen.detach()
    return dpo + rpo_alpha * chosen, metrics


def diffusion_kto_loss(
    model_mse: torch.Tensor,
    reference_mse: torch.Tensor,
    desirable: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    reference_point: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Diffusion-KTO (Li et al. 2024): the implicit reward ``g = e_ref − e_θ`` (how much better the
    model denoises the clip than the reference), the reference point ``z = max(0, mean g)`` detached
    (``reference_point``: the mean over every process; this batch's when None), and
    ``λ_y · (1 − σ(s_y · β · (g − z)))`` with s = +1, λ = ``desirable_weight`` for desirable clips and
    s = −1, λ = ``undesirable_weight`` for the others, averaged over the batch."""
    implicit_reward = reference_mse - model_mse
    point = implicit_reward.mean() if reference_point is None else reference_point
    point = point.detach().clamp(min=0.0)
    sign = desirable.float() * 2.0 - 1.0
    inside = sign * beta * (implicit_reward - point)
    weights = torch.where(
        desirable, torch.full_like(inside, desirable_weight), torch.full_like(inside, undesirable_weight)
    )
    loss = (weights * (1.0 - torch.sigmoid(inside))).mean()
    return loss, {
        "loss_kto": loss.detach(),
        "kto_reference_point": point,
        "kto_implicit_accuracy": (inside > 0).float().mean().detach(),
        "kto_desirable_share": desirable.float().mean().detach(),
    }


def grpo_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float,
    kl: torch.Tensor | None = None,
    beta: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GRPO's clipped surrogate for one denoising step of every clip, plus ``beta`` · KL:

        ρ = exp(log p_θ − log p_old),  L = −mean min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A) + β·mean KL

    (PPO's clip as TRL's GRPO writes it, with DDPO's per-step log-probabilities of the sampler).
    Metrics: the mean ratio, the fraction of clips whose ratio was clipped in the direction that
    stops their gradient (TRL's ``clip_ratio``), and the mean KL."""
    ratio = torch.exp(log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high) * advantages
    loss = -torch.min(unclipped, clipped).mean()
    was_clipped = ((ratio < 1.0 - epsilon_low) & (advantages < 0)) | (
        (ratio > 1.0 + epsilon_high) & (advantages > 0)
    )
    metrics = {"ratio": ratio.mean().detach(), "clip_ratio": was_clipped.float().mean()}
    if kl is not None:
        loss = loss + beta * kl.mean()
        metrics["kl"] = kl.mean().detach()
    return loss, metrics


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """Each clip's reward minus its prompt group's mean, divided by the group's standard deviation
    (``"group"``), the whole batch's (``"batch"``) or nothing (``"none"``) — TRL's ``scale_rewards``.
    ``rewards`` are prompt-major, ``group_size`` clips per prompt; 1e-4 keeps a flat group finite."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    groups = rewards.reshape(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale == "group":
        centred = centred / (groups.std(dim=1, keepdim=True) + 1e-4)
    elif scale == "batch":
        centred = centred / (rewards.std() + 1e-4)
    elif scale != "none":
        raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale!r}")
    return centred.reshape(-1)
