// Decoding GTFS-Realtime with the schema in realtime.proto, then copying what we keep into the
// plain structs of realtime.h.
//
// Why decode into protobuf's objects first rather than read the wire format by hand: the
// library's parser is fuzzed and handles every wire-level corner (packed fields, groups,
// unknown fields, nesting limits); the copy costs little next to the decode. Limits on the
// entity and update counts are checked after decoding, which the byte limit makes affordable.
#include "services/mobility/gtfs/realtime.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/unknown_field_set.h>

#include <fmt/format.h>

#include "services/mobility/gtfs/realtime.pb.h"

namespace cityhub::mobility::gtfs {
namespace {

namespace pb = ::cityhub::mobility::gtfsrt;

Status TooLarge(std::string message) { return Status(Status::Code::kPayloadTooLarge, std::move(message)); }

// The raw value of enum field `number` when the sender used a value this schema does not name
// (proto2 keeps it as an unknown field and the accessor returns the default), else nullopt.
// Callers ask only when the field has no known value, which then takes precedence.
std::optional<uint8_t> UnnamedEnumValue(const google::protobuf::Message& message, int number) {
  const google::protobuf::UnknownFieldSet& unknown = message.GetReflection()->GetUnknownFields(message);
  for (int i = unknown.field_count() - 1; i >= 0; --i) {
    const google::protobuf::UnknownField& f = unknown.field(i);
    if (f.number() == number && f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      return static_cast<uint8_t>(std::min<uint64_t>(f.varint(), 255));
    }
  }
  return std::nullopt;
}

TripDescriptor ConvertTrip(const pb::TripDescriptor& in) {
  TripDescriptor out;
  out.trip_id = in.trip_id();
  out.route_id = in.route_id();
  out.start_date = in.start_date();
  out.start_time = in.start_time();
  if (in.has_direction_id()) out.direction_id = in.direction_id();
  out.relationship = static_cast<TripRelationship>(in.schedule_relationship());
  auto raw = in.has_schedule_relationship()
                 ? std::nullopt
                 : UnnamedEnumValue(in, pb::TripDescriptor::kScheduleRelationshipFieldNumber);
  if (raw) {
    out.relationship = static_cast<TripRelationship>(*raw);
  }
  return out;
}

VehicleDescriptor ConvertVehicle(const pb::VehicleDescriptor& in) {
  return {in.id(), in.label(), in.license_plate()};
}

StopTimeEvent ConvertEvent(const pb::TripUpdate::StopTimeEvent& in) {
  StopTimeEvent out;
  if (in.has_delay()) out.delay = in.delay();
  if (in.has_time()) out.time = in.time();
  return out;
}

Result<TripUpdate> ConvertTripUpdate(const std::string& entity_id, const pb::TripUpdate& in,
                                     const RealtimeLimits& limits) {
  if (!in.has_trip()) {
    return Status::InvalidRequest(fmt::format("entity '{}': trip update without its trip descriptor", entity_id));
  }
  if (static_cast<size_t>(in.stop_time_update_size()) > limits.max_stop_time_updates_per_trip) {
    return TooLarge(fmt::format("entity '{}': {} stop time updates, more than the limit of {}", entity_id,
                                in.stop_time_update_size(), limits.max_stop_time_updates_per_trip));
  }
  TripUpdate out;
  out.entity_id = entity_id;
  out.trip = ConvertTrip(in.trip());
  if (in.has_vehicle()) out.vehicle = ConvertVehicle(in.vehicle());
  if (in.has_timestamp()) out.timestamp = in.timestamp();
  if (in.has_delay()) out.delay = in.delay();
  out.stop_time_updates.reserve(in.stop_time_update_size());
  for (const auto& u : in.stop_time_update()) {
    StopTimeUpdate stu;
    if (u.has_stop_sequence()) stu.stop_sequence = u.stop_sequence();
    stu.stop_id = u.stop_id();
    if (u.has_arrival()) stu.arrival = ConvertEvent(u.arrival());
    if (u.has_departure()) stu.departure = ConvertEvent(u.departure());
    stu.relationship = static_cast<StopRelationship>(u.schedule_relationship());
    auto raw = u.has_schedule_relationship()
                   ? std::nullopt
                   : UnnamedEnumValue(u, pb::TripUpdate::StopTimeUpdate::kScheduleRelationshipFieldNumber);
    if (raw) {
      stu.relationship = static_cast<StopRelationship>(*raw);
    }
    out.stop_time_updates.push_back(std::move(stu));
  }
  return out;
}

VehiclePosition ConvertVehiclePosition(const std::string& entity_id, const pb::VehiclePosition& in) {
  VehiclePosition out;
  out.entity_id = entity_id;
  if (in.has_trip()) out.trip = ConvertTrip(in.trip());
  if (in.has_vehicle()) out.vehicle = ConvertVehicle(in.vehicle());
  if (in.has_position()) {
    const auto& p = in.position();
    out.has_position = p.has_latitude() && p.has_longitude();
    out.lat = p.latitude();
    out.lon = p.longitude();
    if (p.has_bearing()) out.bearing = p.bearing();
    if (p.has_speed()) out.speed = p.speed();
  }
  if (in.has_timestamp()) out.timestamp = in.timestamp();
  out.current_status = static_cast<VehicleStopStatus>(in.current_status());
  out.stop_id = in.stop_id();
  if (in.has_current_stop_sequence()) out.current_stop_sequence = in.current_stop_sequence();
  return out;
}

Result<RealtimeFeed> Convert(const pb::FeedMessage& message, const RealtimeLimits& limits) {
  if (!message.has_header()) return Status::InvalidRequest("GTFS-Realtime feed: the header is missing");
  if (static_cast<size_t>(message.entity_size()) > limits.max_entities) {
    return TooLarge(fmt::format("GTFS-Realtime feed: {} entities, more than the limit of {}", message.entity_size(),
                                limits.max_entities));
  }
  RealtimeFeed feed;
  const auto& header = message.header();
  feed.version = header.gtfs_realtime_version();
  feed.timestamp = header.timestamp();
  feed.differential = header.incrementality() == pb::FeedHeader::DIFFERENTIAL;
  for (int i = 0; i < message.entity_size(); ++i) {
    const pb::FeedEntity& entity = message.entity(i);
    if (!entity.has_id() || entity.id().empty()) {
      return Status::InvalidRequest(fmt::format("GTFS-Realtime feed: entity {} has no id", i + 1));
    }
    if (entity.is_deleted()) {
      feed.deleted_entity_ids.push_back(entity.id());
      continue;
    }
    if (entity.has_trip_update()) {
      auto update = ConvertTripUpdate(entity.id(), entity.trip_update(), limits);
      if (!update.ok()) return update.status();
      feed.trip_updates.push_back(std::move(update).value());
    }
    if (entity.has_vehicle()) feed.vehicle_positions.push_back(ConvertVehiclePosition(entity.id(), entity.vehicle()));
  }
  return feed;
}

Status CheckSize(std::string_view input, const RealtimeLimits& limits) {
  if (input.size() > limits.max_bytes || input.size() > static_cast<size_t>(INT32_MAX)) {
    return TooLarge(
        fmt::format("GTFS-Realtime feed: {} bytes, more than the limit of {}", input.size(), limits.max_bytes));
  }
  return Status::Ok();
}

}  // namespace

Result<RealtimeFeed> ParseRealtimeFeed(std::string_view bytes, const RealtimeLimits& limits) {
  CITYHUB_RETURN_IF_ERROR(CheckSize(bytes, limits));
  pb::FeedMessage message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidRequest(
        fmt::format("GTFS-Realtime feed: {} bytes are not a valid FeedMessage (malformed or truncated protobuf)",
                    bytes.size()));
  }
  return Convert(message, limits);
}

Result<RealtimeFeed> ParseRealtimeFeedText(std::string_view text, const RealtimeLimits& limits) {
  CITYHUB_RETURN_IF_ERROR(CheckSize(text, limits));

  // Collects the parser's complaint (it names line and column) instead of logging it.
  class ErrorCollector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
      if (first.empty()) first = fmt::format("line {} column {}: {}", line + 1, column + 1, message);
    }
    std::string first;
  };
  ErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);
  parser.AllowUnknownExtension(true);
  google::protobuf::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  pb::FeedMessage message;
  if (!parser.Parse(&input, &message)) {
    return Status::InvalidRequest(fmt::format("GTFS-Realtime text feed: {}", errors.first));
  }
  return Convert(message, limits);
}

}  // namespace cityhub::mobility::gtfs
