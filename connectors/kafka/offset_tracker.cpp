#include "connectors/kafka/offset_tracker.h"

#include <algorithm>
#include <deque>

namespace dxnorm::kafka {

std::optional<std::string_view> find_header(const KafkaHeaders& headers, std::string_view key) noexcept {
  for (const auto& h : headers) {
    if (h.key == key) return std::string_view(h.value);
  }
  return std::nullopt;
}

namespace detail {

struct TrackerCounters {
  std::atomic<bool> dirty{false};  // some partition advanced since last take
  std::atomic<std::uint64_t> stale_acks{0};
};

struct PartitionTrack {
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  std::mutex mutex;
  bool revoked = false;                // guarded by mutex
  std::deque<Entry> pending;           // handed out, ascending offsets; front not done
  std::int64_t committable = -1;       // next offset to read; -1: nothing yet
  bool advanced = false;               // committable moved since last take
  std::shared_ptr<TrackerCounters> counters;
  std::uint64_t generation = 0;
};

}  // namespace detail

using detail::PartitionTrack;

OffsetTracker::OffsetTracker() : counters_(std::make_shared<detail::TrackerCounters>()) {}

OffsetTracker::~OffsetTracker() { clear(); }

std::uint64_t OffsetTracker::stale_acks() const noexcept {
  return counters_->stale_acks.load(std::memory_order_relaxed);
}

std::shared_ptr<PartitionTrack> OffsetTracker::new_track_locked() {
  auto track = std::make_shared<PartitionTrack>();
  track->counters = counters_;
  track->generation = ++generation_;
  return track;
}

void OffsetTracker::assign(const std::vector<TopicPartition>& partitions) {
  std::lock_guard lock(mutex_);
  for (const auto& tp : partitions) {
    auto& slot = partitions_[tp];
    if (!slot) slot = new_track_locked();
  }
}

std::vector<PartitionOffset> OffsetTracker::revoke(const std::vector<TopicPartition>& partitions) {
  std::vector<PartitionOffset> out;
  std::lock_guard lock(mutex_);
  for (const auto& tp : partitions) {
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) continue;
    auto track = std::move(it->second);
    partitions_.erase(it);
    std::lock_guard plock(track->mutex);
    track->revoked = true;  // from now on its tokens are stale
    if (track->committable >= 0) out.push_back({tp, track->committable});
    track->pending.clear();
  }
  return out;
}

void OffsetTracker::clear() {
  std::lock_guard lock(mutex_);
  for (auto& [tp, track] : partitions_) {
    std::lock_guard plock(track->mutex);
    track->revoked = true;
    track->pending.clear();
  }
  partitions_.clear();
}

AckToken OffsetTracker::begin(const TopicPartition& tp, std::int64_t offset) {
  std::shared_ptr<PartitionTrack> track;
  {
    std::lock_guard lock(mutex_);
    auto& slot = partitions_[tp];
    if (!slot) slot = new_track_locked();
    track = slot;
  }
  std::lock_guard plock(track->mutex);
  auto& q = track->pending;
  if (q.empty() || q.back().offset < offset) {
    q.push_back({offset, false});
  } else {
    // Not ascending (a re-fetch after an offset reset): keep order, no dups.
    auto it = std::lower_bound(q.begin(), q.end(), offset,
                               [](const PartitionTrack::Entry& e, std::int64_t o) { return e.offset < o; });
    if (it == q.end() || it->offset != offset) q.insert(it, {offset, false});
  }
  // The first record of a generation sets the position: it stays there until
  // that record is done. A re-fetched lower offset pulls it back.
  if (track->committable < 0 || offset < track->committable) track->committable = offset;
  return AckToken(std::move(track), offset);
}

bool OffsetTracker::ack(const AckToken& token) noexcept {
  PartitionTrack* track = token.track_.get();
  if (track == nullptr) return false;
  std::lock_guard plock(track->mutex);
  if (track->revoked) {
    track->counters->stale_acks.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto& q = track->pending;
  auto it = std::lower_bound(q.begin(), q.end(), token.offset_,
                             [](const PartitionTrack::Entry& e, std::int64_t o) { return e.offset < o; });
  if (it == q.end() || it->offset != token.offset_ || it->done) return false;
  it->done = true;
  if (it != q.begin()) return true;  // an earlier record is unfinished
  std::int64_t last = -1;
  while (!q.empty() && q.front().done) {
    last = q.front().offset;
    q.pop_front();
  }
  track->committable = q.empty() ? last + 1 : q.front().offset;
  track->advanced = true;
  track->counters->dirty.store(true, std::memory_order_release);
  return true;
}

std::vector<PartitionOffset> OffsetTracker::take_committable() {
  std::vector<PartitionOffset> out;
  if (!counters_->dirty.exchange(false, std::memory_order_acq_rel)) return out;
  std::lock_guard lock(mutex_);
  for (auto& [tp, track] : partitions_) {
    std::lock_guard plock(track->mutex);
    if (!track->advanced) continue;
    track->advanced = false;
    out.push_back({tp, track->committable});
  }
  return out;
}

std::size_t OffsetTracker::assigned_count() const {
  std::lock_guard lock(mutex_);
  return partitions_.size();
}

std::size_t OffsetTracker::in_flight() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [tp, track] : partitions_) {
    std::lock_guard plock(track->mutex);
    for (const auto& e : track->pending) n += e.done ? 0 : 1;
  }
  return n;
}

std::vector<PartitionOffset> OffsetTracker::positions() const {
  std::vector<PartitionOffset> out;
  std::lock_guard lock(mutex_);
  for (const auto& [tp, track] : partitions_) {
    std::lock_guard plock(track->mutex);
    out.push_back({tp, track->committable});
  }
  return out;
}

}  // namespace dxnorm::kafka
