"""The losses of BATON (paper Eq. 5–7) and Diffusion-DPO (Tango 2), as pure tensor functions."""

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
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Diffusion-DPO (Wallace et al. 2023; Tango 2): with chosen/rejected noised by the same noise and
    timestep, ``−log σ(−β/2 · ((e_θ(w) − e_θ(l)) − (e_ref(w) − e_ref(l))))``, e = per-sample MSE."""
    model_diff = model_mse_chosen - model_mse_rejected
    reference_diff = reference_mse_chosen - reference_mse_rejected
    inside = -0.5 * beta * (model_diff - reference_diff)
    loss = -F.logsigmoid(inside).mean()
    accuracy = (inside > 0).float().mean()
    return loss, {"dpo_implicit_accuracy": accuracy.detach(), "dpo_model_diff": model_diff.mean().detach()}
