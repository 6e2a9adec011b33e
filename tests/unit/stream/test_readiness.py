from __future__ import annotations

from consumer.ops.metrics import ScorerMetrics
from consumer.stream.readiness import Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _readiness() -> tuple[Readiness, Clock, ScorerMetrics]:
    clock = Clock()
    metrics = ScorerMetrics(process=False)
    readiness = Readiness(metrics, broker_down_after=30, unassigned_after=60, clock=clock)
    return readiness, clock, metrics


def _gauge(metrics: ScorerMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


def test_not_ready_until_the_group_assigns_partitions() -> None:
    r, _, metrics = _readiness()
    assert r.check()[0] is False
    assert _gauge(metrics, "fraud_ready") == 0
    r.assigned(3)
    assert r.check() == (True, "ok")
    assert _gauge(metrics, "fraud_ready") == 1


def test_an_outage_past_the_threshold_makes_it_unready_until_a_broker_answers() -> None:
    r, clock, metrics = _readiness()
    r.assigned(3)
    r.broker_error("_ALL_BROKERS_DOWN")
    clock.now += 29
    assert r.check()[0] is True  # short blips do not flap readiness
    clock.now += 2
    ready, why = r.check()
    assert not ready and "no Kafka broker has answered for 31s" in why
    assert _gauge(metrics, "fraud_kafka_reachable") == 0
    r.on_stats({"brokers": {"b:9092/1": {"state": "UP"}}})
    assert r.check()[0] is True
    assert _gauge(metrics, "fraud_kafka_reachable") == 1


def test_other_client_errors_do_not_count_as_unreachable() -> None:
    r, clock, _ = _readiness()
    r.assigned(1)
    r.broker_error("_MSG_TIMED_OUT")
    clock.now += 100
    assert r.check()[0] is True


def test_statistics_with_every_broker_down_mark_it_unreachable() -> None:
    r, clock, _ = _readiness()
    r.assigned(1)
    down = {"b:9092/bootstrap": {"state": "CONNECT"}, "b:9092/1": {"state": "DOWN"}}
    r.on_stats({"brokers": down})
    clock.now += 31
    assert r.check()[0] is False


def test_losing_every_partition_past_the_grace_period_makes_it_unready() -> None:
    r, clock, _ = _readiness()
    r.assigned(3)
    r.assigned(0)  # lost in a rebalance
    clock.now += 59
    assert r.check()[0] is True
    clock.now += 2
    ready, why = r.check()
    assert not ready and "no partitions assigned for 61s" in why
    r.assigned(2)
    assert r.check()[0] is True


def test_a_replica_given_nothing_from_the_start_is_a_ready_standby() -> None:
    r, clock, _ = _readiness()
    r.assigned(0)
    clock.now += 1000
    ready, why = r.check()
    assert ready and "standby" in why
