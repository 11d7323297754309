// OffsetTracker: the contiguous-prefix rule and stale generations, without Kafka.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "connectors/kafka/offset_tracker.h"

using dxnorm::kafka::AckToken;
using dxnorm::kafka::OffsetTracker;
using dxnorm::kafka::PartitionOffset;
using dxnorm::kafka::TopicPartition;

namespace {

const TopicPartition kP0{"in", 0};
const TopicPartition kP1{"in", 1};

std::int64_t committable(OffsetTracker& t, const TopicPartition& tp) {
  for (const auto& p : t.take_committable()) {
    if (p.tp == tp) return p.offset;
  }
  return -1;  // did not advance
}

}  // namespace

TEST_CASE("in-order acks advance the position one past the last acked record") {
  OffsetTracker t;
  t.assign({kP0});
  std::vector<AckToken> tokens;
  for (std::int64_t o = 10; o < 15; ++o) tokens.push_back(t.begin(kP0, o));
  CHECK(t.in_flight() == 5);
  CHECK(t.take_committable().empty());  // nothing acked: nothing to store
  CHECK(t.ack(tokens[0]));
  CHECK(t.ack(tokens[1]));
  CHECK(committable(t, kP0) == 12);
  CHECK(t.take_committable().empty());  // no change since
  for (std::size_t i = 2; i < tokens.size(); ++i) CHECK(t.ack(tokens[i]));
  CHECK(committable(t, kP0) == 15);
  CHECK(t.in_flight() == 0);
}

TEST_CASE("out-of-order acks never move the position past an unfinished record") {
  OffsetTracker t;
  t.assign({kP0, kP1});
  std::vector<AckToken> p0;
  for (std::int64_t o = 0; o < 5; ++o) p0.push_back(t.begin(kP0, o));
  auto p1 = t.begin(kP1, 7);

  CHECK(t.ack(p0[4]));
  CHECK(t.ack(p0[2]));
  CHECK(t.ack(p0[3]));
  CHECK(committable(t, kP0) == -1);  // offset 0 still running
  CHECK(t.ack(p0[0]));
  CHECK(committable(t, kP0) == 1);  // 1 still running
  CHECK(t.ack(p1));
  CHECK(t.ack(p0[1]));
  auto all = t.take_committable();
  REQUIRE(all.size() == 2);
  CHECK(all[0].tp == kP0);
  CHECK(all[0].offset == 5);
  CHECK(all[1].tp == kP1);
  CHECK(all[1].offset == 8);
}

TEST_CASE("offset gaps (compaction, control records) do not hold the position back") {
  OffsetTracker t;
  t.assign({kP0});
  auto a = t.begin(kP0, 3);
  auto b = t.begin(kP0, 9);
  CHECK(t.ack(a));
  CHECK(committable(t, kP0) == 9);  // next unfinished record
  CHECK(t.ack(b));
  CHECK(committable(t, kP0) == 10);
}

TEST_CASE("duplicate and empty acks are dropped") {
  OffsetTracker t;
  auto a = t.begin(kP0, 0);
  CHECK(t.ack(a));
  CHECK_FALSE(t.ack(a));
  CHECK_FALSE(t.ack(AckToken{}));
  CHECK(t.stale_acks() == 0);
}

TEST_CASE("revoke reports the contiguous-done position and drops later (stale) acks") {
  OffsetTracker t;
  t.assign({kP0, kP1});
  auto a0 = t.begin(kP0, 0);
  auto a1 = t.begin(kP0, 1);
  auto a2 = t.begin(kP0, 2);
  auto b0 = t.begin(kP1, 0);
  CHECK(t.ack(a0));
  CHECK(t.ack(a2));  // done, but behind an unfinished record

  auto revoked = t.revoke({kP0});
  REQUIRE(revoked.size() == 1);
  CHECK(revoked[0].tp == kP0);
  CHECK(revoked[0].offset == 1);  // not 3: offset 1 was never acked
  CHECK(t.assigned_count() == 1);

  // A worker finishes offset 1 after the revoke: dropped, never stored.
  CHECK_FALSE(t.ack(a1));
  CHECK(t.stale_acks() == 1);
  CHECK(committable(t, kP0) == -1);

  // Re-assigned (new generation): old tokens stay stale.
  t.assign({kP0});
  auto n1 = t.begin(kP0, 1);
  CHECK_FALSE(t.ack(a1));
  CHECK(t.stale_acks() == 2);
  CHECK(t.ack(n1));
  CHECK(committable(t, kP0) == 2);

  // The other partition is untouched.
  CHECK(t.ack(b0));
  CHECK(committable(t, kP1) == 1);
}

TEST_CASE("revoke of a partition with nothing acked reports the first in-flight offset") {
  OffsetTracker t;
  t.assign({kP0, kP1});
  (void)t.begin(kP0, 42);
  auto revoked = t.revoke({kP0, kP1});
  REQUIRE(revoked.size() == 1);  // kP1 had nothing handed out
  CHECK(revoked[0].offset == 42);
}

TEST_CASE("tokens outliving the tracker are stale, not dangling") {
  AckToken token;
  {
    OffsetTracker t;
    token = t.begin(kP0, 0);
  }
  OffsetTracker other;
  CHECK_FALSE(other.ack(token));
}

TEST_CASE("concurrent acks from a worker pool end at the right position") {
  OffsetTracker t;
  t.assign({kP0});
  constexpr int kN = 20000;
  std::vector<AckToken> tokens;
  tokens.reserve(kN);
  for (int o = 0; o < kN; ++o) tokens.push_back(t.begin(kP0, o));
  std::shuffle(tokens.begin(), tokens.end(), std::mt19937(7));
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int i = w; i < kN; i += 4) CHECK(t.ack(tokens[static_cast<std::size_t>(i)]));
    });
  }
  // The poll thread takes positions meanwhile; they only ever grow.
  std::int64_t last = -1;
  for (int i = 0; i < 200; ++i) {
    for (const auto& p : t.take_committable()) {
      CHECK(p.offset > last);
      last = p.offset;
    }
  }
  for (auto& w : workers) w.join();
  for (const auto& p : t.take_committable()) last = p.offset;
  CHECK(last == kN);
  CHECK(t.in_flight() == 0);
}
