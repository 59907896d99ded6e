# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A producer thread: a function that makes data runs in a thread while the calling thread consumes it.

    def archive(put):                      # runs in the thread
        for chunk in chunks_of_a_tree():
            put(chunk)                     # waits while `depth` chunks are queued

    with Producer(archive, name="archive /srv/app", depth=4) as produced:
        for chunk in produced:             # the producer's exception is raised here, with its traceback
            compress(chunk)
    # leaving the block early stops the producer (its next put raises ConsumerGone) and waits for it

The producer's exception reaches the consumer, never a log; the queue is
bounded, so a fast producer cannot fill memory; and once the consumer stops,
no thread runs on.
"""

from __future__ import annotations

import queue
import threading
import typing as t
from types import TracebackType

Item = t.TypeVar("Item")

_END = object()  # queued by the producer's thread when it ends, however it ends
_DRAIN_WAIT = 0.05  # seconds between looks at a stopping producer's thread


class ConsumerGone(BrokenPipeError):
    """Raised by put() once the consumer has stopped: the producer ends with it, and nobody reports it.

    A BrokenPipeError, as a write to a pipe whose reader went away raises: what a
    producer does about one (nothing) it does about the other.
    """


class ProducerThread:
    """A function run in a daemon thread; its exception is kept for the consuming thread, which raises it."""

    def __init__(self, run: t.Callable[[], object], name: str) -> None:
        self._error: BaseException | None = None
        self._reported = False
        self._thread = threading.Thread(target=self._run, args=(run,), name=name, daemon=True)

    def _run(self, run: t.Callable[[], object]) -> None:
        try:
            run()
        except BaseException as error:  # handed to the consuming thread by take_error
            self._error = error

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()

    def take_error(self, *, quiet: tuple[type[BaseException], ...] = ()) -> BaseException | None:
        """The producer's exception, the first time it is asked for and unless it is one of `quiet`.

        Raising the exception object itself keeps the producer's frames in its
        traceback, below the consumer's.
        """
        if self._error is None or self._reported or isinstance(self._error, quiet):
            return None
        self._reported = True
        return self._error


class Producer(t.Generic[Item]):
    """produce(put) run in a thread, handing items to the consuming thread through a queue of `depth` items.

    The consumer iterates: items come in order; after the last one the
    producer's exception, if it ended with one, is raised. stop() (or leaving
    the `with` block) ends the producer early: its next put() raises
    ConsumerGone. The thread is always joined before stop() returns.
    """

    def __init__(self, produce: t.Callable[[t.Callable[[Item], None]], object], *, name: str, depth: int) -> None:
        self._queue: queue.Queue[t.Any] = queue.Queue(maxsize=depth)
        self._stopped = False
        self._ended = False
        self._thread = ProducerThread(lambda: self._run(produce), name)

    def _run(self, produce: t.Callable[[t.Callable[[Item], None]], object]) -> None:
        try:
            produce(self.put)
        finally:
            self._queue.put(_END)

    def start(self) -> Producer[Item]:
        self._thread.start()
        return self

    # The producer's side.

    def put(self, item: Item) -> None:
        """Hand one item over; waits while the queue is full; raises ConsumerGone once the consumer stopped."""
        if self._stopped:
            raise ConsumerGone("the consumer of this stream went away")
        self._queue.put(item)

    # The consumer's side.

    def __iter__(self) -> Producer[Item]:
        return self

    def __next__(self) -> Item:
        if self._ended:
            raise StopIteration
        item = self._queue.get()
        if item is not _END:
            return t.cast(Item, item)
        self._ended = True
        self._thread.join()
        error = self._thread.take_error()
        if error is not None:
            raise error
        raise StopIteration

    def stop(self) -> BaseException | None:
        """End the producer if it still runs and wait for its thread.

        Returns its exception when it failed and no iteration raised that yet
        (never a broken pipe: that is what stopping it looks like); the caller
        decides whether to raise it.
        """
        self._stopped = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=_DRAIN_WAIT)  # room for a producer waiting to put
            except queue.Empty:
                pass
        self._thread.join()
        return self._thread.take_error(quiet=(BrokenPipeError,))

    def __enter__(self) -> Producer[Item]:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        error = self.stop()
        # With an exception of its own on the way, the consumer's is the one to report.
        if error is not None and exc_type is None:
            raise error
