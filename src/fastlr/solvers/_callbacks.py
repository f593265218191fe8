"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9) for any solver.

The estimator opens the fit's root task; :class:`IterationTasks` is the ``callback``
a solver calls after each iteration (see :mod:`._common`) and turns the iterations
into sub-tasks of that root, as scikit-learn's LogisticRegression does for its lbfgs:
the first sub-task begins at the starting point, each call ends the running sub-task
with the new coefficients and begins the next, and :meth:`IterationTasks.close` ends
the last one, which ran no iteration, with nothing. So a fit of ``n_iter`` iterations
has ``n_iter + 1`` sub-tasks, whatever the solver, in memory or on Dask. A callback
that returns True from ``on_fit_task_end`` stops the solver after that iteration.

Nothing here imports scikit-learn's callback module: it is handed the context.
"""

from __future__ import annotations

import numpy as np


class IterationTasks:
    """One sub-task of ``root`` per solver iteration.

    root : CallbackContext, the fit's root task
    estimator : the estimator being fitted
    X, y, metadata : what the hooks receive (either may be a callable, evaluated
        only if a callback asks for it)
    unpack : flat coef -> (coef_, intercept_) as the fitted estimator stores them
    coef0 : the starting point
    task_name : e.g. ``"owlqn-iter"``

    ``hook_data`` holds ``X``, ``y`` and ``metadata`` for the root task's hooks.
    """

    def __init__(self, root, estimator, X, y, metadata, unpack, coef0, task_name):
        self._root = root
        self.hook_data = dict(X=X, y=y, metadata=metadata)
        self._kwargs = dict(estimator=estimator, **self.hook_data)
        self._estimator = estimator
        self._unpack = unpack
        self._task_name = task_name
        self._task = self._begin(coef0)

    def _attributes(self, coef):
        """The fitted attributes at ``coef``, built only if a callback wants them."""
        coef = np.array(coef, dtype=np.float64)  # the solver may update it in place

        def build():
            W, B = self._unpack(coef)
            return {"coef_": W, "intercept_": B}

        return build

    def _begin(self, coef):
        task = self._root.subcontext(task_name=self._task_name)
        task.call_on_fit_task_begin(**self._kwargs,
                                    reconstruction_attributes=self._attributes(coef))
        return task

    def __call__(self, coef):
        """End the running iteration at ``coef``, begin the next; True asks to stop."""
        stop = self._task.call_on_fit_task_end(
            **self._kwargs, reconstruction_attributes=self._attributes(coef))
        self._task = self._begin(coef)
        return bool(stop)

    def close(self):
        """End the sub-task that ran no iteration (no data, no fitted estimator)."""
        self._task.call_on_fit_task_end(estimator=self._estimator)
