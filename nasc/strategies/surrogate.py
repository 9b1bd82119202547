"""The Gaussian-process surrogate the model-based strategies share: BoTorch fits, a Cholesky extends.

Two GPs, one per answer of the oracle, both on :func:`.encoding.encode` of the candidates:

* **accuracy**, modelled as minus a Box-Cox transform of the error rate ``100 - accuracy``
  (:func:`error_transform`), its power fitted by maximum likelihood to the answers so far
  at every refit (:func:`fit_power`, about -1.4 on this table; power 0 is the log error
  rate): monotone in accuracy, so the best candidate is the same, but it spreads the top of
  the table (where the search has to tell 94.0 from 93.9) and folds the long tail of poor
  cells (the 341 cut-off ones at 10.0), so that the one signal variance a stationary GP has
  is fitted to the differences that matter;
* **latency**, modelled as ``log(ms)``: latencies span two orders of magnitude and add up
  multiplicatively along the network's depth more than additively.

Hyperparameters (BoTorch's ``SingleTaskGP``: constant mean, RBF with one lengthscale per
dimension under its dimension-scaled prior, Gaussian noise, outcomes standardized) are
fitted by maximum marginal likelihood with ``fit_gpytorch_mll`` on a doubling schedule (at
10, 20, 40, ... observations).  Between fits the hyperparameters stay and each new
observation extends the Cholesky factor of the training covariance by one row, which
updates the posterior over all candidates in O(n m) instead of refactorizing: that is what
lets 50 repetitions of a 300-query search run in minutes on two cores.  The posterior is
exact GP algebra with the fitted kernel (:class:`Posterior`), not an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import solve_triangular

from .encoding import DEFAULT, encode


def error_transform(accuracy: ArrayLike, power: float = 0.0) -> np.ndarray:
    """What the accuracy GP models: minus the Box-Cox transform of the error rate
    ``e = 100 - accuracy``, ``-(e**power - 1) / power``, which is ``-log(e)`` at power 0;
    increasing in accuracy for every power."""
    e = np.maximum(100.0 - np.asarray(accuracy, dtype=float), 1e-6)
    return -np.log(e) if power == 0.0 else -(e ** power - 1.0) / power


POWER_RANGE = (-3.0, 1.0)
"""Box-Cox powers the fit may choose from: wide enough for the table's (about -1.4 over all
cells, -1.2 to -1.9 on random samples of 20 to 150), and finite, so ten observations
cannot pick an extreme that flattens every value but the largest into one."""


def fit_power(accuracy: ArrayLike) -> float:
    """The Box-Cox power that makes the observed error rates most nearly Gaussian (maximum
    likelihood, ``scipy.stats.boxcox_normmax``), clipped to :data:`POWER_RANGE`.

    Why: a GP has one signal variance for the whole table, and under ``-log(e)`` the cells
    that barely train (up to 90% error) spread over more units than all the good ones
    together; the fitted variance is then that of the tail, and the model is as unsure
    about 94% against 93% as about 94% against 60%.  A power of about -1.4 folds the tail
    and spreads the top, so the variance the GP fits is the one that matters for the search."""
    from scipy.stats import boxcox_normmax

    e = np.maximum(100.0 - np.asarray(accuracy, dtype=float), 1e-6)
    if len(e) < 3 or np.ptp(e) <= 0:
        return 0.0
    return float(np.clip(boxcox_normmax(e, method="mle"), *POWER_RANGE))


def latency_transform(latency_ms: ArrayLike) -> np.ndarray:
    """What the latency GP models: ``log(ms)``."""
    return np.log(np.maximum(np.asarray(latency_ms, dtype=float), 1e-6))


@dataclass(frozen=True, eq=False)
class Kernel:
    """A fitted GP prior in the data's own units: ``k(a, b)``, noise variance and constant mean."""

    covariance: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(rows of a, rows of b) -> covariance matrix"""
    noise: float
    mean: float
    hyperparameters: Mapping[str, Any]
    """The fitted model's hyperparameters (its state less the outcome standardization), to
    start the next fit from."""


FIT_ITERATIONS = 50
"""L-BFGS iterations per fit.  Started from the previous fit's hyperparameters, the marginal
likelihood is within a few hundredths of its optimum after 50; BoTorch's default runs to
convergence (~1,000 evaluations, seconds per fit on a shared core) for no visible gain."""


def fit_kernel(X: np.ndarray, y: np.ndarray, seed: int, start: Mapping[str, Any] | None = None) -> Kernel:
    """Fit BoTorch's ``SingleTaskGP`` to (X, y) by marginal likelihood and return its prior.

    ``start`` is a previous fit's ``hyperparameters`` (warm start).  BoTorch and torch are
    imported here, not at module load: ``import nasc`` stays light.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few hundred points: threads only add contention on a shared machine
    try:
        return _fit(X, y, seed, start)
    finally:
        torch.set_num_threads(threads)


def _fit(X: np.ndarray, y: np.ndarray, seed: int, start: Mapping[str, Any] | None) -> Kernel:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.kernels import RBFKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
    model = SingleTaskGP(Xt, yt, outcome_transform=Standardize(m=1))
    if start is not None:
        model.load_state_dict(dict(start), strict=False)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                     optimizer_kwargs={"options": {"maxiter": FIT_ITERATIONS}})
    model.eval()
    fitted: Any = model  # BoTorch's attributes are typed loosely (Module | Tensor)
    with torch.no_grad():
        scale = float(fitted.outcome_transform.stdvs.squeeze())
        shift = float(fitted.outcome_transform.means.squeeze())
        noise = float(fitted.likelihood.noise.squeeze()) * scale ** 2
        mean = float(fitted.mean_module.constant.squeeze()) * scale + shift
    hyper = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("outcome_transform")}
    covar: Any = model.covar_module
    if not isinstance(covar, RBFKernel):  # what BoTorch's SingleTaskGP builds by default
        raise TypeError(f"expected SingleTaskGP's RBF kernel, got {type(covar).__name__}")
    lengthscale = covar.lengthscale.detach().numpy().reshape(-1)
    return Kernel(partial(_rbf, lengthscale=lengthscale, variance=scale ** 2), noise, mean, hyper)


def _rbf(a: np.ndarray, b: np.ndarray, lengthscale: np.ndarray, variance: float) -> np.ndarray:
    """gpytorch's RBF kernel, ``variance * exp(-|a - b|^2 / 2)`` on inputs divided by the
    lengthscales, in numpy: a column over 15,625 candidates costs a millisecond, against
    tens through gpytorch's lazy tensors.  Tests check it against the BoTorch posterior."""
    a, b = a / lengthscale, b / lengthscale
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return variance * np.exp(-0.5 * np.maximum(sq, 0.0))


@dataclass(eq=False)
class Posterior:
    """The exact GP posterior over every candidate, extended one observation at a time.

    Keeps ``L`` (Cholesky factor of the training covariance plus noise), ``V = L^-1 K(train,
    candidates)`` and the running column sums of ``V**2``: adding an observation appends a
    row to each, and the posterior mean and variance of all ``m`` candidates follow in O(n m).
    """

    X: np.ndarray
    kernel: Kernel
    rows: list[int] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    _L: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _V: np.ndarray = field(init=False)
    _vsq: np.ndarray = field(init=False)
    _prior_var: float = field(init=False)

    def __post_init__(self) -> None:
        self._prior_var = float(self.kernel.covariance(self.X[:1], self.X[:1])[0, 0])  # stationary kernel
        self._V = np.zeros((16, len(self.X)))
        self._vsq = np.zeros(len(self.X))

    @classmethod
    def conditioned(cls, X: np.ndarray, kernel: Kernel, rows: list[int], y: np.ndarray) -> "Posterior":
        """The posterior given observations ``y`` at ``rows``, factorized in one go (after a refit)."""
        post = cls(X, kernel)
        K = kernel.covariance(X[rows], X)
        post._L = np.linalg.cholesky(K[:, rows] + kernel.noise * np.eye(len(rows)))
        V = solve_triangular(post._L, K, lower=True)
        post._V = np.vstack([V, np.zeros((max(16, len(rows)), len(X)))])
        post._vsq = (V * V).sum(axis=0)
        post.rows, post.y = [int(r) for r in rows], [float(v) for v in y]
        return post

    def add(self, row: int, value: float) -> None:
        """Condition on the observation ``value`` at candidate ``row``."""
        k = self.kernel.covariance(self.X, self.X[row][None])[:, 0]
        n = len(self.rows)
        V = self._V[:n]
        l = solve_triangular(self._L, k[self.rows], lower=True) if n else np.zeros(0)
        d = np.sqrt(max(k[row] + self.kernel.noise - float(l @ l), 1e-12))
        v = (k - l @ V) / d
        L = np.zeros((n + 1, n + 1))
        L[:n, :n], L[n, :n], L[n, n] = self._L, l, d
        if n == len(self._V):  # grow the row buffer by doubling: appends stay O(n m) amortized
            self._V = np.vstack([self._V, np.zeros_like(self._V)])
        self._L, self._V[n] = L, v
        self._vsq += v * v
        self.rows.append(int(row))
        self.y.append(float(value))

    def covariance(self, rows: np.ndarray) -> np.ndarray:
        """The posterior covariance of the latent function between candidates ``rows``."""
        V = self._V[:len(self.rows), rows]
        return self.kernel.covariance(self.X[rows], self.X[rows]) - V.T @ V

    def predict(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation) of the latent function at every candidate."""
        sd = np.sqrt(np.maximum(self._prior_var - self._vsq, 1e-12))
        if not self.rows:
            return np.full(len(self.X), self.kernel.mean), sd
        a = solve_triangular(self._L, np.asarray(self.y) - self.kernel.mean, lower=True)
        return self.kernel.mean + a @ self._V[:len(self.rows)], sd


def refit_due(n: int, last_fit: int, first: int) -> bool:
    """The doubling schedule: refit at ``first`` observations, then whenever the count has doubled."""
    return last_fit == 0 and n >= first or last_fit > 0 and n >= 2 * last_fit


@dataclass(eq=False)
class Surrogate:
    """The accuracy GP and the latency GP over one candidate set, refitted on the schedule."""

    ops: np.ndarray
    seed: int
    encoding: str = DEFAULT
    first_fit: int = 10
    warp: bool = True
    """Fit the Box-Cox power of the accuracy at every refit (:func:`fit_power`); False keeps
    ``-log(100 - accuracy)``."""
    X: np.ndarray = field(init=False)
    accuracy: Posterior | None = None
    latency: Posterior | None = None
    observed: dict[int, tuple[float, float]] = field(default_factory=dict)
    """row -> (accuracy in %, log latency)"""
    power: float = 0.0
    """The Box-Cox power the accuracy GP models now (:func:`error_transform`)."""
    _last_fit: int = 0

    def __post_init__(self) -> None:
        self.X = encode(self.ops, self.encoding)

    def observe(self, row: int, accuracy: float, latency_ms: float) -> None:
        """Record an answer; refit the hyperparameters when the schedule says so."""
        if int(row) in self.observed:  # the table answers without noise: a repeat adds nothing
            return
        self.observed[int(row)] = (float(accuracy), float(latency_transform(latency_ms)))
        n = len(self.observed)
        if refit_due(n, self._last_fit, self.first_fit):
            self._refit()
        elif self.accuracy is not None and self.latency is not None:
            self.accuracy.add(row, self.value(accuracy))
            self.latency.add(row, self.observed[int(row)][1])

    def value(self, accuracy: float) -> float:
        """An accuracy in the accuracy GP's units (the transform of the last refit)."""
        return float(error_transform(accuracy, self.power))

    @property
    def ready(self) -> bool:
        return self.accuracy is not None

    def _refit(self) -> None:
        rows = list(self.observed)
        X = self.X[rows]
        raw, lat = (np.array(column) for column in zip(*self.observed.values()))
        if self.warp:
            self.power = fit_power(raw)
        acc = error_transform(raw, self.power)
        warm = (self.accuracy.kernel.hyperparameters, self.latency.kernel.hyperparameters) \
            if self.accuracy is not None and self.latency is not None else (None, None)
        self.accuracy = Posterior.conditioned(self.X, fit_kernel(X, acc, self.seed, warm[0]), rows, acc)
        self.latency = Posterior.conditioned(self.X, fit_kernel(X, lat, self.seed + 1, warm[1]), rows, lat)
        self._last_fit = len(rows)

    def _fitted(self) -> tuple[Posterior, Posterior]:
        if self.accuracy is None or self.latency is None:
            raise RuntimeError("the surrogate is asked before its first fit")
        return self.accuracy, self.latency

    def predict(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(accuracy mean, sd, latency mean, sd) at every candidate, in the modelled units."""
        accuracy, latency = self._fitted()
        return (*accuracy.predict(), *latency.predict())

    def joint(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior covariances (accuracy, latency) among candidates ``rows``."""
        accuracy, latency = self._fitted()
        return accuracy.covariance(rows), latency.covariance(rows)
