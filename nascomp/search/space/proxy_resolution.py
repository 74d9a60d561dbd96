"""Can a point of a space train at the proxy resolution?

The budget is measured at the recipe's ``input_shape`` (3x224x224 by default), but trials train at the proxy
resolution (``data.image_size``, 28x28 by default). A space whose stem and stages downsample more than the proxy
image allows (DenseNet: a 7x7/2 stem, a 3x3/2 max-pool and three transitions take 28 to 0) is valid at 224 and
cannot be built at 28. So every candidate is also shape-checked at the proxy resolution -- the same analytic
shape and cost inference as the budget's (:meth:`~nascomp.search.space.search_space.SearchSpace.cost`, memoized, about a
millisecond), no weights -- in the census, in the budget sampler and in the loop's gate; and a space no point of
which trains there is refused before anything is written, with the node and the smallest image size that works
(:meth:`ProxyResolution.smallest_size`: image sizes tried upward with that same inference, not guessed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nascomp.errors import SearchError, SpecError
from nascomp.search.space.search_space import SearchSpace, point_key

__all__ = ["ProxyResolution", "ProxyResolutionError", "SIZE_LIMIT", "CHECKED_POINTS"]

#: Failed points the refusal's smallest image size is computed for (each size tried costs each point once).
CHECKED_POINTS = 100
#: The largest square image size :meth:`ProxyResolution.smallest_size` tries (pixels).
SIZE_LIMIT = 1024


class ProxyResolutionError(SpecError):
    """A point that is a valid architecture at the budget's input shape cannot be built at the proxy resolution
    (a spatial size shrinks to zero, a concat of mismatched sizes, ...). Its ``file``, ``line`` and ``node`` are
    those of the shape rule that failed."""


@dataclass(frozen=True)
class ProxyResolution:
    """The proxy resolution of a search: ``channels x image_size x image_size`` with ``num_classes`` classes.

    Attributes:
        space: The search space.
        channels: Input channels (the recipe's ``input_shape[0]``).
        image_size: The proxy's square image size in pixels (``data.image_size``, ``--image-size``).
        num_classes: The data's classes.

    Example:
        >>> from nascomp.search.space.search_space import load_space
        >>> space = load_space("densenet")
        >>> proxy = ProxyResolution(space, channels=3, image_size=28, num_classes=10)
        >>> proxy.works(space.points["densenet121"]), proxy.smallest_size([space.points["densenet121"]])
        (False, 29)
    """

    space: SearchSpace
    channels: int
    image_size: int
    num_classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the proxy's images."""
        return (self.channels, self.image_size, self.image_size)

    def _fails_at(self, point: dict[str, Any], size: int) -> SpecError | None:
        try:
            self.space.cost(point, input_shape=(self.channels, size, size), num_classes=self.num_classes)
        except SpecError as exc:
            return exc
        return None

    def check(self, point: dict[str, Any]) -> None:
        """Raise :class:`ProxyResolutionError` when ``point`` cannot be built at the proxy resolution.

        Raises:
            ProxyResolutionError: with the failing node's file, line and id, and what its shape rule found.
        """
        exc = self._fails_at(point, self.image_size)
        if exc is not None:
            raise ProxyResolutionError(
                f"cannot train at the proxy resolution {self.image_size}x{self.image_size} (--image-size): "
                f"{exc.detail}", file=exc.file, line=exc.line, node=exc.node)

    def works(self, point: dict[str, Any]) -> bool:
        """``point`` can be built at the proxy resolution."""
        return self._fails_at(point, self.image_size) is None

    def smallest_size(self, points: Iterable[dict[str, Any]], limit: int = SIZE_LIMIT) -> int | None:
        """The smallest square image size at which every one of ``points`` can be built, or ``None`` when none
        up to ``limit`` pixels works.

        Sizes are tried upward from 1 with the analytic shape inference (no weights): a size is accepted once
        all points pass at it, so a space whose valid sizes are not contiguous (odd-only concats) still gets a
        size that works, not the first size after which all larger ones would.
        """
        distinct = list({point_key(p): p for p in points}.values())
        size = 1
        while size <= limit:
            failing = next((p for p in distinct if self._fails_at(p, size) is not None), None)
            if failing is None:
                return size
            size += 1
        return None

    def refusal(self, failed: list[dict[str, Any]], first: ProxyResolutionError, *, sampled: int,
                named: int) -> SearchError:
        """The error that refuses a space no point of which trains at the proxy resolution.

        Args:
            failed: The points that fit the budget and failed (sampled, then named); the smallest size is computed
                for the first :data:`CHECKED_POINTS` of them.
            first: The first failure (its node and what its rule found are quoted).
            sampled: Sampled points among ``failed``.
            named: Named points among ``failed``.
        """
        checked = failed[:CHECKED_POINTS]
        size = self.smallest_size(checked)
        what = " and ".join(part for part in (f"{sampled} sampled point(s)" if sampled else "",
                                              f"{named} named point(s)" if named else "") if part) or "points"
        where = f"{first.file}:{first.line}: " if first.file and first.line else ""
        node = f"node '{first.node}': " if first.node else ""
        detail = first.detail.split(": ", 1)[-1]
        if size is not None:
            fix = (f"the smallest image size at which all {len(checked)} checked points can be built is {size}: use "
                   f"--image-size {size} or more (recipe data.image_size), or a space that downsamples less")
        else:
            fix = (f"no image size up to {SIZE_LIMIT} works for all {len(checked)} checked points; use a space that "
                   f"downsamples less")
        return SearchError(
            f"search space '{self.space.name}' cannot train at the proxy resolution "
            f"{self.image_size}x{self.image_size}: none of its {what} that fit the budget can be built there "
            f"({where}{node}{detail}); "
            f"{fix}")
