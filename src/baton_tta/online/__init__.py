"""Online rounds of generate → score → fine-tune → judge (see :mod:`baton_tta.online.runner`)."""

from baton_tta.online.config import OnlineConfig
from baton_tta.online.judges import ClapScoreJudge
from baton_tta.online.runner import OnlineRunner, RoundState, Scorer

__all__ = ["ClapScoreJudge", "OnlineConfig", "OnlineRunner", "RoundState", "Scorer"]
