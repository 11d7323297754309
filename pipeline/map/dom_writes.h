// Writing the output document's values with one 16-byte store each.
//
// Why: rapidjson 1.1.0 on x86-64 (RAPIDJSON_48BITPOINTER_OPTIMIZATION) keeps
// a value's 16-bit type flags in the top bits of its 64-bit pointer word. Its
// setters (SetString, StringRef values, SetObject + the first AddMember,
// SetArray + Reserve) store the flags with a 2-byte store and then read the
// whole word back to merge the pointer in; AddMember and PushBack then copy
// the finished 16-byte value with one load. Neither load can be served from
// the smaller stores still in flight (store-to-load forwarding needs one
// store that covers the load), so each waits until they reach the cache.
// The map stage writes ~900 members and ~600 strings per benchmark message
// and perf put these waits on the hottest instructions of AddMember,
// emit_primitive and the copying of plan constants. The helpers below build
// the same bytes in registers and store them at once; members are written
// in place when the object has room, and allocations come from a bump
// pointer (PoolBump).
//
// Contract: each helper leaves its value as the rapidjson call named in its
// comment would (the same bytes, but for the room reserved by set_object and
// set_array), so everything downstream (validator, serializer, CopyFrom)
// sees no difference.
// Hazard: this depends on rapidjson's private layout. The size and the
// pointer optimisation are checked here; the flag values and layouts are
// checked against values rapidjson builds itself, byte for byte, in
// tests/unit/map/dom_writes_test.cpp. A rapidjson upgrade must pass it.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dxnorm::map::dom {

static_assert(sizeof(rapidjson::Value) == 16, "dom_writes.h assumes rapidjson's 16-byte values");
static_assert(RAPIDJSON_48BITPOINTER_OPTIMIZATION, "dom_writes.h assumes flags in the pointer word's top 16 bits");
static_assert(sizeof(rapidjson::SizeType) == 4, "dom_writes.h assumes 32-bit sizes");
static_assert(sizeof(rapidjson::Value::Member) == 32, "dom_writes.h assumes 32-byte members");

// rapidjson's private flag values (GenericValue's enum), checked by the test.
inline constexpr std::uint64_t kConstStringFlags = 0x0405;  // kStringType | kStringFlag
inline constexpr std::uint64_t kCopyStringFlags = 0x0C05;   // ... | kCopyFlag
inline constexpr std::uint64_t kShortStringFlags = 0x1C05;  // ... | kCopyFlag | kInlineStrFlag
inline constexpr std::uint64_t kObjectFlags = 0x0003;       // kObjectType
inline constexpr std::uint64_t kArrayFlags = 0x0004;        // kArrayType
// ShortString: up to 13 chars inline, NUL after them, byte 13 = 13 - length.
inline constexpr std::size_t kShortMax = 13;

// Bytes 0-7 and 8-15 of v, in one store.
inline void store(rapidjson::Value& v, std::uint64_t lo, std::uint64_t hi) noexcept {
#if defined(__SSE2__)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&v),
                   _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
#else
  const std::uint64_t w[2] = {lo, hi};
  std::memcpy(static_cast<void*>(&v), w, sizeof w);
#endif
}

inline std::uint64_t pointer_word(const void* p, std::uint64_t flags) noexcept {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)) | flags << 48;
}

// v.SetString(rapidjson::StringRef(s, n)): refers to s, which must outlive
// the document (plan text, the document's pool).
inline void set_string_ref(rapidjson::Value& v, const char* s, std::size_t n) noexcept {
  store(v, static_cast<std::uint32_t>(n), pointer_word(s, kConstStringFlags));
}
inline void set_string_ref(rapidjson::Value& v, std::string_view s) noexcept { set_string_ref(v, s.data(), s.size()); }

// out becomes a second handle on v (no copy of its strings, members or
// items): as the 16 bytes rapidjson would move, without emptying v. For
// values that outlive the document and that nothing changes (the plan's
// constants).
inline void share(rapidjson::Value& out, const rapidjson::Value& v) noexcept {
  std::uint64_t w[2];
  std::memcpy(w, static_cast<const void*>(&v), sizeof w);
  store(out, w[0], w[1]);
}

// Up to 8 bytes of s (n <= 8) as a little-endian word, reading only s[0, n).
inline std::uint64_t load_upto8(const char* s, std::size_t n) noexcept {
  std::uint64_t a = 0, b = 0;
  if (n >= 4) {
    std::uint32_t x, y;
    std::memcpy(&x, s, 4);
    std::memcpy(&y, s + n - 4, 4);
    a = x;
    b = static_cast<std::uint64_t>(y) << (8 * (n - 4));  // overlaps a on equal bytes
  } else if (n > 0) {
    const auto* u = reinterpret_cast<const unsigned char*>(s);
    a = u[0];
    b = static_cast<std::uint64_t>(u[n / 2]) << (8 * (n / 2)) | static_cast<std::uint64_t>(u[n - 1]) << (8 * (n - 1));
  }
  return a | b;
}

// A bump allocator over blocks taken from the document's pool: the same
// memory and lifetime as the pool's own Malloc (its blocks are never freed
// one by one), without a call per allocation. Allocations are 8-byte
// aligned, as rapidjson's. rapidjson itself (AddMember / PushBack growing an
// object or array) still allocates from the pool directly; its Realloc
// copies blocks it did not hand out last, so the two mix safely.
class PoolBump {
 public:
  void reset(rapidjson::MemoryPoolAllocator<>& pool) noexcept {
    pool_ = &pool;
    next_ = end_ = nullptr;
  }
  void* Malloc(std::size_t n) {
    n = (n + 7) & ~std::size_t{7};
    if (static_cast<std::size_t>(end_ - next_) < n) refill(n);
    char* p = next_;
    next_ += n;
    return p;
  }

 private:
  static constexpr std::size_t kBlock = 8192;
  [[gnu::noinline]] void refill(std::size_t n) {
    const std::size_t size = n > kBlock ? n : kBlock;
    next_ = static_cast<char*>(pool_->Malloc(size));
    end_ = next_ + size;
  }
  rapidjson::MemoryPoolAllocator<>* pool_ = nullptr;
  char* next_ = nullptr;
  char* end_ = nullptr;
};

// v.SetString(s.data(), s.size(), alloc): a copy; up to 13 bytes inline
// (no allocation), longer ones in the pool with a NUL after them. (Alloc:
// the document's MemoryPoolAllocator or a PoolBump over it.)
template <class Alloc>
inline void set_string_copy(rapidjson::Value& v, std::string_view s, Alloc& alloc) {
  const std::size_t n = s.size();
  if (n <= kShortMax) {
    std::uint64_t lo, hi;
    if (n <= 8) {
      lo = load_upto8(s.data(), n);
      hi = 0;
    } else {
      std::memcpy(&lo, s.data(), 8);
      hi = load_upto8(s.data() + 8, n - 8);
    }
    hi |= static_cast<std::uint64_t>(kShortMax - n) << 40 | kShortStringFlags << 48;
    store(v, lo, hi);
    return;
  }
  char* p = static_cast<char*>(alloc.Malloc(n + 1));
  std::memcpy(p, s.data(), n);
  p[n] = '\0';
  store(v, static_cast<std::uint32_t>(n), pointer_word(p, kCopyStringFlags));
}

// v.SetObject() followed by room for `capacity` members (what rapidjson's
// first AddMember allocates, 16, when capacity is 0 it allocates nothing).
template <class Alloc>
inline void set_object(rapidjson::Value& v, std::uint32_t capacity, Alloc& alloc) {
  void* members = capacity ? alloc.Malloc(capacity * sizeof(rapidjson::Value::Member)) : nullptr;
  store(v, static_cast<std::uint64_t>(capacity) << 32, pointer_word(members, kObjectFlags));
}

// v.SetArray().Reserve(capacity, alloc).
template <class Alloc>
inline void set_array(rapidjson::Value& v, std::uint32_t capacity, Alloc& alloc) {
  void* items = capacity ? alloc.Malloc(capacity * sizeof(rapidjson::Value)) : nullptr;
  store(v, static_cast<std::uint64_t>(capacity) << 32, pointer_word(items, kArrayFlags));
}

// add_member() when obj has no room left: rapidjson grows it.
[[gnu::noinline]] inline void add_member_grown(rapidjson::Value& obj, std::string_view name, rapidjson::Value& value,
                                               rapidjson::MemoryPoolAllocator<>& alloc) {
  rapidjson::Value n;
  set_string_ref(n, name);
  obj.AddMember(n, value, alloc);
}

// obj.AddMember(rapidjson::StringRef(name), value, alloc) (`value` is left
// null, as AddMember leaves it). When obj has room (set_object), the member
// is written in place: the name in one store, the value copied; otherwise
// rapidjson grows the object. The object's words are read with the sizes
// they were written with (size: 4 bytes, by the last add; capacity and
// pointer: by set_object's store), so that each load can be forwarded.
// Inlined: it is most of what writing a member costs.
[[gnu::always_inline]] inline void add_member(rapidjson::Value& obj, std::string_view name, rapidjson::Value& value,
                                              rapidjson::MemoryPoolAllocator<>& alloc) {
  char* const o = reinterpret_cast<char*>(&obj);
  std::uint32_t size, capacity;
  std::uint64_t word;
  std::memcpy(&size, o, 4);
  std::memcpy(&capacity, o + 4, 4);
  std::memcpy(&word, o + 8, 8);
  if (size < capacity && (word >> 48) == kObjectFlags) [[likely]] {
    auto* m = reinterpret_cast<rapidjson::Value::Member*>(static_cast<std::uintptr_t>(word & 0x0000FFFFFFFFFFFFull)) + size;
    set_string_ref(m->name, name);
    std::memcpy(static_cast<void*>(&m->value), static_cast<const void*>(&value), sizeof value);
    ++size;
    std::memcpy(o, &size, 4);
    value.SetNull();
    return;
  }
  add_member_grown(obj, name, value, alloc);
}

}  // namespace dxnorm::map::dom
