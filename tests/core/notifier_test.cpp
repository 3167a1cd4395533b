// SPDX-License-Identifier: MIT
// Tests of uret/notifier.hpp: the per-CPU user-return notifier chain.
#include <uret/notifier.hpp>

#include <catch2/catch.hpp>

#include <vector>

using uret::cpu_id;
using uret::errc;

namespace {
struct probe {
  uret::user_return_notifier node;
  std::vector<int>* order = nullptr;
  int id = 0;
  uret::notifier_chain<4>* chain = nullptr;
  uret::user_return_notifier* victim = nullptr;   // unregistered by this callback
  uret::user_return_notifier* recruit = nullptr;  // registered by this callback
  bool unregister_self = false;
};

void record(uret::user_return_notifier& n, cpu_id cpu) noexcept {
  auto* p = static_cast<probe*>(n.context);
  p->order->push_back(p->id);
  if (p->unregister_self) static_cast<void>(p->chain->unregister(n));
  if (p->victim != nullptr) static_cast<void>(p->chain->unregister(*p->victim));
  if (p->recruit != nullptr) static_cast<void>(p->chain->register_notifier(cpu, *p->recruit));
}

probe make(int id, std::vector<int>& order, uret::notifier_chain<4>& chain) {
  probe p;
  p.order = &order;
  p.id = id;
  p.chain = &chain;
  p.node.on_user_return = &record;
  return p;
}
}  // namespace

TEST_CASE("notifier: register, pending, fire, unregister", "[notifier]") {
  uret::notifier_chain<4> chain{2};
  std::vector<int> order;
  probe a = make(1, order, chain);
  a.node.context = &a;
  CHECK_FALSE(chain.pending(cpu_id{0}));
  REQUIRE(chain.register_notifier(cpu_id{0}, a.node).has_value());
  CHECK(a.node.registered());
  CHECK(a.node.cpu() == cpu_id{0});
  CHECK(chain.pending(cpu_id{0}));
  CHECK_FALSE(chain.pending(cpu_id{1}));  // the list belongs to one CPU
  REQUIRE(chain.fire(cpu_id{1}).has_value());
  CHECK(order.empty());
  REQUIRE(chain.fire(cpu_id{0}).has_value());
  CHECK(order == std::vector<int>{1});
  REQUIRE(chain.fire(cpu_id{0}).has_value());  // stays registered until it unregisters
  CHECK(order == std::vector<int>{1, 1});
  REQUIRE(chain.unregister(a.node).has_value());
  CHECK_FALSE(chain.pending(cpu_id{0}));
  CHECK_FALSE(a.node.registered());
}

TEST_CASE("notifier: bad input gives errors", "[notifier]") {
  uret::notifier_chain<4> chain{2};
  uret::user_return_notifier n;
  CHECK(chain.register_notifier(cpu_id{0}, n).error() == errc::invalid_argument);
  n.on_user_return = [](uret::user_return_notifier&, cpu_id) noexcept {};
  CHECK(chain.register_notifier(cpu_id{2}, n).error() == errc::cpu_out_of_range);
  CHECK(chain.fire(cpu_id{2}).error() == errc::cpu_out_of_range);
  CHECK(chain.unregister(n).error() == errc::not_registered);
  REQUIRE(chain.register_notifier(cpu_id{1}, n).has_value());
  CHECK(chain.register_notifier(cpu_id{1}, n).error() == errc::already_registered);
  CHECK(chain.register_notifier(cpu_id{0}, n).error() == errc::already_registered);
  CHECK_FALSE(chain.pending(cpu_id{9}));
  CHECK(uret::notifier_chain<4>{0}.cpus() == 1);
  CHECK(uret::notifier_chain<4>{99}.cpus() == 4);
  REQUIRE(chain.unregister(n).has_value());
}

TEST_CASE("notifier: newest first, like hlist_add_head", "[notifier]") {
  uret::notifier_chain<4> chain{1};
  std::vector<int> order;
  probe a = make(1, order, chain), b = make(2, order, chain), c = make(3, order, chain);
  for (probe* p : {&a, &b, &c}) {
    p->node.context = p;
    REQUIRE(chain.register_notifier(cpu_id{0}, p->node).has_value());
  }
  REQUIRE(chain.fire(cpu_id{0}).has_value());
  CHECK(order == std::vector<int>{3, 2, 1});
  SECTION("unregistering the middle node keeps the others") {
    REQUIRE(chain.unregister(b.node).has_value());
    order.clear();
    REQUIRE(chain.fire(cpu_id{0}).has_value());
    CHECK(order == std::vector<int>{3, 1});
  }
}

TEST_CASE("notifier: callbacks may unregister themselves or others, or register new ones",
          "[notifier]") {
  uret::notifier_chain<4> chain{1};
  std::vector<int> order;
  probe a = make(1, order, chain), b = make(2, order, chain), c = make(3, order, chain),
        d = make(4, order, chain);
  for (probe* p : {&a, &b, &c, &d}) p->node.context = p;
  for (probe* p : {&a, &b, &c}) REQUIRE(chain.register_notifier(cpu_id{0}, p->node).has_value());
  // Walk order: c, b, a.
  SECTION("self-unregistration during the walk (the kernel's own pattern)") {
    a.unregister_self = b.unregister_self = c.unregister_self = true;
    REQUIRE(chain.fire(cpu_id{0}).has_value());
    CHECK(order == std::vector<int>{3, 2, 1});
    CHECK_FALSE(chain.pending(cpu_id{0}));
  }
  SECTION("a callback unregisters the node the walk would visit next") {
    c.victim = &b.node;
    REQUIRE(chain.fire(cpu_id{0}).has_value());
    CHECK(order == std::vector<int>{3, 1});
    CHECK_FALSE(b.node.registered());
  }
  SECTION("a node registered during the walk waits for the next return to user") {
    c.recruit = &d.node;
    REQUIRE(chain.fire(cpu_id{0}).has_value());
    CHECK(order == std::vector<int>{3, 2, 1});
    c.recruit = nullptr;
    order.clear();
    REQUIRE(chain.fire(cpu_id{0}).has_value());
    CHECK(order == std::vector<int>{4, 3, 2, 1});
  }
  for (probe* p : {&a, &b, &c, &d}) {
    if (p->node.registered()) REQUIRE(chain.unregister(p->node).has_value());
  }
}

namespace {
uret::notifier_chain<4>* g_chain = nullptr;
errc g_nested = errc{};
}  // namespace

TEST_CASE("notifier: a re-entrant fire of the same CPU is refused", "[notifier]") {
  uret::notifier_chain<4> chain{1};
  g_chain = &chain;
  uret::user_return_notifier n;
  n.on_user_return = [](uret::user_return_notifier&, cpu_id cpu) noexcept {
    g_nested = g_chain->fire(cpu).error();
  };
  REQUIRE(chain.register_notifier(cpu_id{0}, n).has_value());
  REQUIRE(chain.fire(cpu_id{0}).has_value());
  CHECK(g_nested == errc::busy);
  REQUIRE(chain.unregister(n).has_value());
}
