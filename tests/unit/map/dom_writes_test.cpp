// dom_writes.h writes rapidjson's private representation directly; these
// tests pin it to what rapidjson itself builds, byte for byte, so that a
// rapidjson upgrade that changes the layout fails here, not in production.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "pipeline/map/dom_writes.h"

namespace {

using dxnorm::map::dom::add_member;
using dxnorm::map::dom::set_array;
using dxnorm::map::dom::set_object;
using dxnorm::map::dom::set_string_copy;
using dxnorm::map::dom::set_string_ref;

bool same_bytes(const rapidjson::Value& a, const rapidjson::Value& b) {
  return std::memcmp(static_cast<const void*>(&a), static_cast<const void*>(&b), sizeof a) == 0;
}

std::uint16_t flags_of(const rapidjson::Value& v) {
  std::uint16_t f;
  std::memcpy(&f, reinterpret_cast<const char*>(&v) + 14, 2);
  return f;
}

std::string json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

}  // namespace

TEST_CASE("dom_writes: a string reference is the value rapidjson's StringRef makes") {
  const std::string text = "http://terminology.hl7.org/CodeSystem/v2-0203";
  for (std::size_t n = 0; n <= text.size(); ++n) {
    rapidjson::Value api(rapidjson::StringRef(text.data(), static_cast<rapidjson::SizeType>(n)));
    rapidjson::Value mine;
    set_string_ref(mine, text.data(), n);
    CHECK(same_bytes(api, mine));
    CHECK(mine.IsString());
    CHECK(mine.GetString() == text.data());
    CHECK(mine.GetStringLength() == n);
  }
}

TEST_CASE("dom_writes: a copied string is the value rapidjson's copying constructor makes") {
  rapidjson::MemoryPoolAllocator<> pool;
  // Every length across the inline limit (13), and every byte value in
  // every position of the inline ones (the word assembly must not mix them).
  std::string text;
  for (int i = 0; i < 40; ++i) text += static_cast<char>('a' + i % 26);
  for (std::size_t n = 0; n <= text.size(); ++n) {
    // Copy into a buffer of exactly n bytes: the helper must not read past it.
    std::unique_ptr<char[]> exact(new char[n ? n : 1]);
    std::memcpy(exact.get(), text.data(), n);
    rapidjson::Value api(exact.get(), static_cast<rapidjson::SizeType>(n), pool);
    rapidjson::Value mine;
    set_string_copy(mine, std::string_view(exact.get(), n), pool);
    CAPTURE(n);
    REQUIRE(mine.IsString());
    CHECK(mine.GetStringLength() == n);
    CHECK(std::string_view(mine.GetString(), n) == std::string_view(exact.get(), n));
    CHECK(mine.GetString()[n] == '\0');
    CHECK(flags_of(mine) == flags_of(api));
    if (n <= dxnorm::map::dom::kShortMax) {
      CHECK(same_bytes(api, mine));  // inline: no pointer, so every byte
    } else {
      CHECK(mine.GetString() != exact.get());  // a copy in the pool
      CHECK(std::memcmp(&api, &mine, 8) == 0);  // length and (zero) hash word
    }
  }
  for (std::size_t n = 1; n <= dxnorm::map::dom::kShortMax; ++n)
    for (std::size_t at = 0; at < n; ++at)
      for (int b = 0; b < 256; ++b) {
        char buf[16] = "0123456789abcde";
        buf[at] = static_cast<char>(b);
        rapidjson::Value api(buf, static_cast<rapidjson::SizeType>(n), pool);
        rapidjson::Value mine;
        set_string_copy(mine, std::string_view(buf, n), pool);
        if (!same_bytes(api, mine)) {
          FAIL("inline string differs: length " << n << ", byte " << b << " at " << at);
        }
      }
}

TEST_CASE("dom_writes: objects and arrays made with room behave as rapidjson's") {
  rapidjson::MemoryPoolAllocator<> pool;
  for (std::uint32_t capacity : {0u, 1u, 3u, 16u}) {
    CAPTURE(capacity);
    rapidjson::Value api(rapidjson::kObjectType);
    rapidjson::Value mine;
    set_object(mine, capacity, pool);
    CHECK(mine.IsObject());
    CHECK(mine.MemberCount() == 0);
    CHECK(flags_of(mine) == flags_of(api));
    // More members than the room: rapidjson grows it as usual. (Names are
    // referred to, so they must outlive the objects.)
    std::deque<std::string> names;
    for (int i = 0; i < 20; ++i) {
      const std::string& name = names.emplace_back("member" + std::to_string(i));
      rapidjson::Value a(i), b(i);
      api.AddMember(rapidjson::StringRef(name.c_str()), a, pool);
      add_member(mine, name, b, pool);
      CHECK(b.IsNull());  // moved, as AddMember leaves it
    }
    CHECK(json(mine) == json(api));
    CHECK(mine == api);

    rapidjson::Value arr_api(rapidjson::kArrayType);
    rapidjson::Value arr;
    set_array(arr, capacity, pool);
    CHECK(arr.IsArray());
    CHECK(arr.Empty());
    CHECK(flags_of(arr) == flags_of(arr_api));
    CHECK(arr.Capacity() == capacity);
    for (int i = 0; i < 20; ++i) {
      arr_api.PushBack(i, pool);
      arr.PushBack(i, pool);
    }
    CHECK(json(arr) == json(arr_api));
  }
}

TEST_CASE("dom_writes: a shared value is a second handle on the same members, the original intact") {
  rapidjson::MemoryPoolAllocator<> pool;
  rapidjson::Document plan(&pool);
  plan.Parse(R"({"coding":[{"system":"http://loinc.org","code":"2345-7"}],"text":"Glucose"})");
  REQUIRE(!plan.HasParseError());
  rapidjson::Value shared;
  dxnorm::map::dom::share(shared, plan);
  CHECK(same_bytes(shared, plan));
  CHECK(json(shared) == json(plan));
  CHECK(&*shared.MemberBegin() == &*plan.MemberBegin());  // no copy
  CHECK(plan.IsObject());                                  // not moved out
  CHECK(plan.MemberCount() == 2);
}
