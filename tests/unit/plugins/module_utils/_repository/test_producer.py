# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import threading
import time
import traceback

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._repository.producer import ConsumerGone, Producer


def running(name: str) -> bool:
    return name in [thread.name for thread in threading.enumerate()]


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the producer thread did not get there"
        time.sleep(0.01)


def test_items_arrive_in_order_and_the_thread_ends_with_them():
    def produce(put):
        for number in range(100):
            put(number)

    with Producer(produce, name="counting producer", depth=3) as produced:
        assert list(produced) == list(range(100))
    assert not running("counting producer")


def test_the_producers_error_is_raised_in_the_consumer_after_its_items_with_its_traceback():
    def archive_the_tree(put):
        put(b"first chunk")
        raise SourceUnavailable("/srv/uploads/a shrank while it was being backed up")

    received = []
    with pytest.raises(SourceUnavailable, match="shrank") as raised:
        with Producer(archive_the_tree, name="failing producer", depth=2) as produced:
            for item in produced:
                received.append(item)
    assert received == [b"first chunk"]
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "archive_the_tree" in frames  # where it failed, in the producer's thread
    assert not running("failing producer")


def test_stopping_early_ends_a_producer_that_would_never_end():
    seen = []

    def endless(put):
        try:
            while True:
                put(b"y" * 1000)
        except ConsumerGone as gone:
            seen.append(gone)
            raise

    with Producer(endless, name="endless producer", depth=2) as produced:
        assert next(produced) == b"y" * 1000
    assert not running("endless producer")
    assert len(seen) == 1 and isinstance(seen[0], BrokenPipeError)  # ended by its next put, reported by nobody


def test_the_queue_holds_at_most_depth_items_while_the_consumer_does_not_take_any():
    handed_over = []

    def fast(put):
        for number in range(1000):
            put(number)
            handed_over.append(number)

    producer = Producer(fast, name="fast producer", depth=4).start()
    try:
        wait_for(lambda: len(handed_over) == 4)
        time.sleep(0.2)  # time enough to run ahead, were the queue unbounded
        assert len(handed_over) == 4
        assert next(producer) == 0
        wait_for(lambda: len(handed_over) == 5)  # one taken, room for one more
    finally:
        assert producer.stop() is None
    assert not running("fast producer")


def test_the_consumers_own_error_is_not_replaced_by_the_producers():
    def failing(put):
        put(1)
        raise SourceUnavailable("cannot list /srv/uploads")

    with pytest.raises(ValueError, match="compressor broke"):
        with Producer(failing, name="replaced producer", depth=2) as produced:
            next(produced)
            raise ValueError("compressor broke")
    assert not running("replaced producer")


def test_an_error_no_iteration_reached_is_raised_when_the_block_ends():
    finished = threading.Event()

    def failing(put):
        put(1)
        put(2)
        finished.set()
        raise SourceUnavailable("cannot read /srv/uploads/b")

    with pytest.raises(SourceUnavailable, match="cannot read"):
        with Producer(failing, name="unread producer", depth=4) as produced:
            assert next(produced) == 1
            finished.wait(5)
    assert not running("unread producer")
