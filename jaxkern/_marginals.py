"""The one result type for a Gaussian's marginals, shared by every room that predicts."""

from __future__ import annotations

from typing import NamedTuple

from jaxtyping import Array, Float


class Marginals(NamedTuple):
    r"""Gaussian marginals: a mean and a variance, $\mathcal N(\text{mean}, \text{variance})$.

    What `gp.gp_posterior` (latent function at test points), `deep.ntk_predict` /
    `deep.dkm_predict` (outputs at test points) and `quadrature.bayesian_quadrature` (the
    integral) return. `variance` is always of the latent quantity, without observation noise;
    add the noise for the predictive variance of a new observation. The old names
    `gp.Posterior`, `deep.Prediction` and `quadrature.Integral` are this class.
    """

    mean: Float[Array, "..."]
    variance: Float[Array, "..."]
