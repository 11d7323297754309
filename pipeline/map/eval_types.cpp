#include "pipeline/map/eval_types.h"

#include <algorithm>
#include <cstring>

namespace dxnorm::map {

char* Arena::alloc(std::size_t n) {
  while (current_ < blocks_.size()) {
    Block& b = blocks_[current_];
    if (b.size - b.used >= n) {
      char* p = b.data.get() + b.used;
      b.used += n;
      return p;
    }
    ++current_;
    if (current_ < blocks_.size()) blocks_[current_].used = 0;
  }
  std::size_t size = std::max<std::size_t>(n, blocks_.empty() ? 16384 : blocks_.back().size * 2);
  blocks_.push_back(Block{std::make_unique<char[]>(size), size, n});
  current_ = blocks_.size() - 1;
  return blocks_.back().data.get();
}

std::string_view Arena::copy(std::string_view s) {
  if (s.empty()) return {};
  char* p = alloc(s.size());
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

void Arena::reset() noexcept {
  for (auto& b : blocks_) b.used = 0;
  current_ = 0;
}

void ReadTracker::reset(std::size_t segments) {
  seen_.assign(segments, 0);
  parts_.clear();
}

}  // namespace dxnorm::map
