/* Merging distributed answers.
 *
 * Design. The merge works on the hub's own entity model, not on JSON: a source's answer is
 * parsed (and so validated and expanded) like a client's entity, then merged, and the one
 * result goes through the same projection, format and rendering as a local answer. So a
 * source cannot smuggle into the answer what the hub would not itself produce, and the formats
 * (normalized, concise, keyValues, GeoJSON) need no second implementation. Its cost is one
 * parse per remote entity, which is small beside the network hop that fetched it.
 *
 * Writes go the other way: SplitFragment cuts a client's fragment by a registration's
 * attributes, so each exclusive or redirect source gets its part and the hub keeps the rest.
 *
 * Discovery and temporal answers are merged as JSON instead: they are lists of names and of
 * time-stamped instances whose merge is a union, and the hub renders them from other models.
 *
 * Times. observedAt is kept as the text the client wrote (in UTC); comparisons parse it, and an
 * unparsable one (which the parser would not have let in) counts as absent.
 */
#include "ngsild/distributed_merge.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

std::optional<int64_t> TimeMember(const json::object& o, std::string_view member) {
  const json::value* v = o.if_contains(member);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_string()) return util::ParseDateTime(v->get_string());
  return std::nullopt;
}

int Rank(ContributionRole role) {
  switch (role) {
    case ContributionRole::kLocal: return 0;
    case ContributionRole::kAuxiliary: return 2;
    default: return 1;
  }
}

bool Authoritative(ContributionRole role) {
  return role == ContributionRole::kExclusive || role == ContributionRole::kRedirect;
}

void UniteScope(json::value& into, const json::value& from) {
  if (from.is_null()) return;
  if (into.is_null()) {
    into = from;
    return;
  }
  std::vector<std::string> names;
  auto collect = [&names](const json::value& v) {
    if (v.is_string()) names.emplace_back(v.get_string());
    if (v.is_array()) {
      for (const auto& s : v.get_array()) {
        if (s.is_string()) names.emplace_back(s.get_string());
      }
    }
  };
  collect(into);
  collect(from);
  std::vector<std::string> unique;
  for (auto& n : names) {
    if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(std::move(n));
  }
  if (unique.size() == 1) {
    into = json::value(unique.front());
    return;
  }
  json::array out;
  for (auto& n : unique) out.emplace_back(n);
  into = std::move(out);
}

// Merges the instances of one attribute into `kept` (rule 3).
void MergeInstances(Instances& kept, Instances&& incoming) {
  for (Instance& inst : incoming) {
    const std::string_view dataset = DatasetIdOf(inst);
    auto same = std::find_if(kept.begin(), kept.end(), [&](const Instance& k) { return DatasetIdOf(k) == dataset; });
    if (same == kept.end()) {
      kept.push_back(std::move(inst));
    } else if (PreferInstance(inst, *same)) {
      *same = std::move(inst);
    }
  }
}

void UniteTimes(Entity& into, const Entity& from) {
  if (from.created_at != 0 && (into.created_at == 0 || from.created_at < into.created_at)) into.created_at = from.created_at;
  into.modified_at = std::max(into.modified_at, from.modified_at);
}

// The attributes an exclusive or redirect contribution takes over for entity `e` (rule 2): those
// of its registration, whether it returned them or not, else every one it returned.
std::set<std::string> TakenOver(const Contribution& c, const Entity& e) {
  if (!c.attributes.empty()) return {c.attributes.begin(), c.attributes.end()};
  std::set<std::string> out;
  for (const auto& [name, instances] : e.attrs) out.insert(name);
  return out;
}

// One entity's parts, each with its contribution's role and registered attributes.
struct Part {
  const Contribution* from;
  Entity entity;
};

Entity MergeParts(std::vector<Part> parts) {
  // One party alone holds the entity (the usual case when cities hold their own entities): it
  // is the answer as it stands.
  if (parts.size() == 1) return std::move(parts.front().entity);
  std::stable_sort(parts.begin(), parts.end(),
                   [](const Part& a, const Part& b) { return Rank(a.from->role) < Rank(b.from->role); });
  std::set<std::string> taken_over;
  for (const Part& p : parts) {
    if (Authoritative(p.from->role)) taken_over.merge(TakenOver(*p.from, p.entity));
  }
  Entity out;
  out.id = parts.front().entity.id;
  std::set<std::string> from_primaries;  // attributes the hub or a non-auxiliary source returned
  bool any_primary = false;
  for (Part& p : parts) {
    const ContributionRole role = p.from->role;
    const bool auxiliary = role == ContributionRole::kAuxiliary;
    if (!auxiliary || !any_primary) {  // an auxiliary part beside others only fills attributes
      out.AddTypes(p.entity.types);
      UniteScope(out.scope, p.entity.scope);
      UniteTimes(out, p.entity);
      if (out.expires_at == 0) {
        out.expires_at = p.entity.expires_at;
        out.expires_fraction = p.entity.expires_fraction;
      }
    }
    // The hub's own record of who created the entity (its read rules may name the owner);
    // a source's owner is its own business and never sent.
    if (role == ContributionRole::kLocal) out.owner = p.entity.owner;
    for (auto& [name, instances] : p.entity.attrs) {
      if (role == ContributionRole::kLocal && taken_over.contains(name)) continue;
      if (auxiliary && from_primaries.contains(name)) continue;
      if (!auxiliary) from_primaries.insert(name);
      MergeInstances(out.attrs[name], std::move(instances));
    }
    any_primary = any_primary || !auxiliary;
  }
  return out;
}

std::string IdOf(const json::value& v) {
  if (!v.is_object()) return {};
  const json::value* id = v.get_object().if_contains("id");
  return id && id->is_string() ? std::string(id->get_string()) : std::string();
}

// The sum of two counts, whichever JSON number kind each was read or built as (a count the hub
// computed is unsigned, one parsed from a source signed).
json::value Sum(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) return a.to_number<double>() + b.to_number<double>();
  const bool negative = (a.is_int64() && a.get_int64() < 0) || (b.is_int64() && b.get_int64() < 0);
  if (negative) return a.to_number<int64_t>() + b.to_number<int64_t>();
  return a.to_number<uint64_t>() + b.to_number<uint64_t>();
}

// Adds to array `into` the strings of `from` it does not hold yet.
void UniteStrings(json::object& into, const json::object& from, std::string_view member) {
  const json::value* add = from.if_contains(member);
  if (!add || !add->is_array()) return;
  json::value& target = into[member];
  if (!target.is_array()) target = json::array();
  json::array& list = target.get_array();
  for (const auto& v : add->get_array()) {
    if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
  }
}

// Unites detailed discovery objects by id; `merge` combines one into another with the same id.
json::array UniteById(const std::vector<json::array>& lists,
                      const std::function<void(json::object&, const json::object&)>& merge) {
  json::array out;
  std::map<std::string, size_t> index;
  for (const auto& list : lists) {
    for (const auto& item : list) {
      const std::string id = IdOf(item);
      if (id.empty()) continue;
      auto [it, fresh] = index.emplace(id, out.size());
      if (fresh) {
        out.push_back(item);
      } else {
        merge(out[it->second].get_object(), item.get_object());
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const json::value& a, const json::value& b) { return IdOf(a) < IdOf(b); });
  return out;
}

// The instances of a rendered temporal attribute (an object or an array of objects).
json::array InstancesOf(const json::value& v) {
  if (v.is_array()) return v.get_array();
  json::array one;
  if (v.is_object()) one.push_back(v);
  return one;
}

// The union of two entity type members (a string or an array of strings), in order.
json::value UniteTypes(const json::value& a, const json::value& b) {
  json::array all;
  for (const json::value* v : {&a, &b}) {
    const json::array one = v->is_array() ? v->get_array() : json::array{*v};
    for (const auto& t : one) {
      if (!t.is_null() && std::find(all.begin(), all.end(), t) == all.end()) all.push_back(t);
    }
  }
  if (all.size() == 1) return all[0];
  return all;
}

bool IsTemporalEntityMember(std::string_view key) {
  return key == "id" || key == "type" || key == "scope" || key == "@context" || key == "createdAt" ||
         key == "modifiedAt" || key == "deletedAt";
}

void MergeTemporalAttribute(json::value& into, const json::value& from) {
  json::array all = InstancesOf(into);
  for (const json::value& inst : InstancesOf(from)) {
    const json::value* iid = inst.is_object() ? inst.get_object().if_contains("instanceId") : nullptr;
    const bool seen = std::any_of(all.begin(), all.end(), [&](const json::value& k) {
      if (iid && k.is_object()) {
        const json::value* kid = k.get_object().if_contains("instanceId");
        if (kid) return *kid == *iid;
      }
      return k == inst;
    });
    if (!seen) all.push_back(inst);
  }
  std::stable_sort(all.begin(), all.end(), [](const json::value& a, const json::value& b) {
    const auto ta = a.is_object() ? TimeMember(a.get_object(), "observedAt") : std::nullopt;
    const auto tb = b.is_object() ? TimeMember(b.get_object(), "observedAt") : std::nullopt;
    if (ta && tb) return *ta < *tb;
    return ta.has_value() && !tb.has_value();
  });
  into = std::move(all);
}

}  // namespace

bool IdLess(const Entity& a, const Entity& b) { return a.id < b.id; }

bool PreferInstance(const Instance& candidate, const Instance& kept) {
  const auto observed_new = TimeMember(candidate, "observedAt");
  const auto observed_old = TimeMember(kept, "observedAt");
  if (observed_new && observed_old) return *observed_new > *observed_old;
  if (observed_new || observed_old) return observed_new.has_value();
  const auto modified_new = TimeMember(candidate, "modifiedAt");
  const auto modified_old = TimeMember(kept, "modifiedAt");
  if (modified_new && modified_old) return *modified_new > *modified_old;
  return false;
}

bool NeedsTimes(const std::vector<const Entity*>& parts) {
  // Per attribute and datasetId: the instances without observedAt, and whether all of them
  // carry modifiedAt.
  struct Untimed {
    size_t count = 0;
    bool all_modified = true;
  };
  std::map<std::pair<std::string_view, std::string_view>, Untimed> seen;
  for (const Entity* e : parts) {
    for (const auto& [name, instances] : e->attrs) {
      for (const Instance& inst : instances) {
        if (inst.contains("observedAt")) continue;
        Untimed& u = seen[{name, DatasetIdOf(inst)}];
        ++u.count;
        u.all_modified = u.all_modified && inst.contains("modifiedAt");
        if (u.count > 1 && !u.all_modified) return true;
      }
    }
  }
  return false;
}

std::optional<Entity> MergeEntity(const std::string& id, std::vector<Contribution> parts) {
  std::vector<Part> mine;
  for (Contribution& c : parts) {
    for (Entity& e : c.entities) {
      if (e.id == id) mine.push_back(Part{&c, std::move(e)});
    }
  }
  if (mine.empty()) return std::nullopt;
  return MergeParts(std::move(mine));
}

std::vector<Entity> MergeEntities(std::vector<Contribution> parts, const EntityLess& less) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Part>> by_id;
  for (Contribution& c : parts) {
    for (Entity& e : c.entities) {
      auto [it, fresh] = by_id.try_emplace(e.id);
      if (fresh) order.push_back(e.id);
      it->second.push_back(Part{&c, std::move(e)});
    }
  }
  std::vector<Entity> out;
  out.reserve(order.size());
  for (const std::string& id : order) out.push_back(MergeParts(std::move(by_id[id])));
  std::stable_sort(out.begin(), out.end(), less);
  return out;
}

std::vector<Entity> Page(std::vector<Entity> merged, size_t offset, size_t limit) {
  if (offset >= merged.size()) return {};
  auto first = merged.begin() + static_cast<std::ptrdiff_t>(offset);
  auto last = first + static_cast<std::ptrdiff_t>(std::min(limit, merged.size() - offset));
  return {std::make_move_iterator(first), std::make_move_iterator(last)};
}

json::array MergeNameLists(const std::vector<json::array>& lists) {
  std::set<std::string> names;
  for (const auto& list : lists) {
    for (const auto& v : list) {
      if (v.is_string()) names.emplace(v.get_string());
    }
  }
  json::array out;
  for (const auto& n : names) out.emplace_back(n);
  return out;
}

json::array MergeTypeDetails(const std::vector<json::array>& lists) {
  return UniteById(lists, [](json::object& into, const json::object& from) { UniteStrings(into, from, "attributeNames"); });
}

json::array MergeAttributeDetails(const std::vector<json::array>& lists) {
  return UniteById(lists, [](json::object& into, const json::object& from) {
    UniteStrings(into, from, "typeNames");
    UniteStrings(into, from, "attributeTypes");
    const json::value* add = from.if_contains("attributeCount");
    json::value* count = into.if_contains("attributeCount");
    if (add && add->is_number() && count && count->is_number()) {
      *count = Sum(*count, *add);
    } else if (add && !count) {
      into["attributeCount"] = *add;
    }
  });
}

json::object MergeAttributeInfo(const std::vector<json::object>& infos) {
  std::vector<json::array> lists;
  for (const json::object& info : infos) lists.push_back(json::array{info});
  json::array merged = MergeAttributeDetails(lists);
  return merged.empty() ? infos.front() : merged.front().get_object();
}

json::object MergeTypeInfo(const std::vector<json::object>& infos) {
  json::object out = infos.front();
  std::vector<json::array> details;
  for (size_t i = 0; i < infos.size(); ++i) {
    const json::value* d = infos[i].if_contains("attributeDetails");
    if (d && d->is_array()) details.push_back(d->get_array());
    if (i == 0) continue;
    const json::value* add = infos[i].if_contains("entityCount");
    json::value* count = out.if_contains("entityCount");
    if (add && add->is_number() && count && count->is_number()) *count = Sum(*count, *add);
  }
  out["attributeDetails"] = UniteById(details, [](json::object& into, const json::object& from) {
    UniteStrings(into, from, "attributeTypes");
  });
  return out;
}

std::vector<json::object> MergeTemporalEntities(const std::vector<std::vector<json::object>>& parts) {
  std::vector<json::object> out;
  std::map<std::string, size_t> index;
  for (const auto& part : parts) {
    for (const json::object& e : part) {
      const std::string id = IdOf(e);
      if (id.empty()) continue;
      auto [it, fresh] = index.emplace(id, out.size());
      if (fresh) {
        out.push_back(e);
        for (auto& [key, value] : out.back()) {
          if (!IsTemporalEntityMember(key)) value = InstancesOf(value);
        }
        continue;
      }
      json::object& into = out[it->second];
      for (const auto& [key, value] : e) {
        if (key == "type") {
          into[key] = UniteTypes(into[key], value);
        } else if (key == "scope") {
          UniteScope(into[key], value);
        } else if (!IsTemporalEntityMember(key)) {
          MergeTemporalAttribute(into[key], value);
        }
      }
    }
  }
  return out;
}

FragmentSplit SplitFragment(const json::object& fragment, const Context& ctx, const std::vector<std::string>& attributes) {
  FragmentSplit out;
  for (const auto& [key, value] : fragment) {
    if (IsEntityKeyword(key)) {
      out.matched[key] = value;
      out.rest[key] = value;
      continue;
    }
    const bool covered = attributes.empty() ||
                         std::find(attributes.begin(), attributes.end(), ctx.ExpandTerm(key)) != attributes.end();
    (covered ? out.matched : out.rest)[key] = value;
    out.matched_any = out.matched_any || covered;
  }
  return out;
}

}  // namespace cityhub::ngsild
