// At-least-once bookkeeping between a consumer and its workers.
//
// Per assigned partition, every record handed out is "in flight" until it is
// acknowledged. The committable position of a partition (the next offset a
// restarted consumer should read) advances only over the contiguous prefix of
// acknowledged records, so out-of-order acks from a worker pool never move it
// past an unfinished record.
//
// Generations: assign() starts a fresh state per partition; revoke() reports
// the last committable position and forgets the partition. Tokens of a
// revoked generation stay valid objects, but ack() with them is dropped
// (returns false and counts a stale ack), even if the partition has since
// been assigned again.
//
// Threading: begin(), assign(), revoke(), take_committable() and clear() are
// called from the consumer's poll thread. ack() may be called from any thread
// concurrently: it locks only the one partition's mutex and does no I/O.
// The accessors (assigned_count, in_flight, positions) are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka_record.h"

namespace dxnorm::kafka {
namespace detail {
struct TrackerCounters;
}

struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

// A position to store/commit: `offset` is the next offset to read.
struct PartitionOffset {
  TopicPartition tp;
  std::int64_t offset = -1;
};

class OffsetTracker {
 public:
  OffsetTracker();
  ~OffsetTracker();  // clear(): tokens that outlive the tracker are stale
  OffsetTracker(const OffsetTracker&) = delete;
  OffsetTracker& operator=(const OffsetTracker&) = delete;

  // Starts tracking these partitions (a new generation for each). A partition
  // already tracked keeps its state.
  void assign(const std::vector<TopicPartition>& partitions);

  // Stops tracking: returns, for each revoked partition that had records
  // handed out in this generation, its committable position (whether or not
  // take_committable() already returned it: the caller commits these). In-flight
  // records of these partitions are forgotten; their later acks are dropped.
  std::vector<PartitionOffset> revoke(const std::vector<TopicPartition>& partitions);

  // Forgets everything (revoke of all, positions discarded: partitions lost).
  void clear();

  // Marks a record as handed out. Returns its token. A partition not
  // assigned yet is assigned implicitly (eager protocol tolerance).
  AckToken begin(const TopicPartition& tp, std::int64_t offset);

  // Marks a record done. Returns false when dropped: empty token, stale
  // generation (partition revoked since), or unknown/duplicate offset.
  bool ack(const AckToken& token) noexcept;

  // Positions that advanced since the last call (cheap when none did).
  std::vector<PartitionOffset> take_committable();

  std::size_t assigned_count() const;
  std::size_t in_flight() const;  // records handed out and not yet acked
  std::uint64_t stale_acks() const noexcept;

  // Current committable position per assigned partition; -1 when nothing has
  // been handed out yet in this generation.
  std::vector<PartitionOffset> positions() const;

 private:
  mutable std::mutex mutex_;  // guards partitions_ (the map, not the states)
  std::map<TopicPartition, std::shared_ptr<detail::PartitionTrack>> partitions_;
  // Shared with every partition state, so a token that outlives the tracker
  // never touches freed memory.
  std::shared_ptr<detail::TrackerCounters> counters_;
  std::uint64_t generation_ = 0;  // guarded by mutex_

  std::shared_ptr<detail::PartitionTrack> new_track_locked();
};

}  // namespace dxnorm::kafka
