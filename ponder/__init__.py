"""ponder: post-training language models to reason better (ThinkPO, PFPO, Thinker)."""

__version__ = "0.1.0"
