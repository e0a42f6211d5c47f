#include "reports/report_api.hpp"

#include "core/ids.hpp"
#include "http/responses.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::reports {

namespace beast_http = boost::beast::http;
using http::json_error;

namespace {

http::Response error_for(const ReportOutcome& outcome) {
  switch (outcome.kind) {
    case ReportOutcome::Kind::NotFound:
      return json_error(beast_http::status::not_found, "report_not_found",
                        "this user has no report with that id");
    case ReportOutcome::Kind::InvalidTransition: {
      std::string detail = "cannot change a report from " +
                           std::string(domain::to_string(outcome.report.status)) + " to " +
                           std::string(domain::to_string(outcome.requested));
      if (!outcome.detail.empty()) detail += " (" + outcome.detail + ")";
      auto response =
          http::json_response(beast_http::status::conflict,
                              {{"error", "invalid_transition"},
                               {"detail", detail},
                               {"currentStatus", domain::to_string(outcome.report.status)},
                               {"requestedStatus", domain::to_string(outcome.requested)}});
      return response;
    }
    case ReportOutcome::Kind::Overloaded: {
      auto response = json_error(beast_http::status::service_unavailable, "overloaded",
                                 "too many report operations are waiting; retry shortly");
      response.set(beast_http::field::retry_after, "1");
      return response;
    }
    case ReportOutcome::Kind::Unavailable:
    case ReportOutcome::Kind::Done:
      break;
  }
  auto response = json_error(beast_http::status::service_unavailable, "store_unavailable",
                             outcome.detail.empty() ? "the report store is unavailable" : outcome.detail);
  response.set(beast_http::field::retry_after, "1");
  return response;
}

}  // namespace

std::variant<std::string, http::Response> user_id_of(const http::Target& target) {
  auto raw = target.param("user_id");
  if (!raw || raw->empty())
    return json_error(beast_http::status::bad_request, "missing_user_id",
                      "the query parameter `user_id` (a UUID) is required");
  auto user_id = core::canonical_uuid(*raw);
  if (!user_id)
    return json_error(beast_http::status::bad_request, "invalid_user_id",
                      "user_id must be a UUID like 3f2b8a9e-6d1c-4e2f-9a7b-1c2d3e4f5a6b");
  return std::move(*user_id);
}

std::variant<domain::StatusChange, http::Response> parse_status_change(
    std::string_view content_type, std::string_view body) {
  std::string_view media_type = content_type.substr(0, content_type.find(';'));
  // RFC 9110 §8.3.1 allows whitespace around the parameters' `;`.
  while (!media_type.empty() && (media_type.back() == ' ' || media_type.back() == '\t'))
    media_type.remove_suffix(1);
  while (!media_type.empty() && (media_type.front() == ' ' || media_type.front() == '\t'))
    media_type.remove_prefix(1);
  if (!boost::beast::iequals(media_type, "application/json"))
    return json_error(beast_http::status::bad_request, "unsupported_content_type",
                      "send the body as Content-Type: application/json");
  auto change = domain::parse_status_change(body);
  if (auto* error = std::get_if<domain::StatusChangeError>(&change)) return refusal_for(*error);
  return std::get<domain::StatusChange>(std::move(change));
}

http::Response refusal_for(const domain::StatusChangeError& error) {
  const char* code = [&] {
    switch (error.fault) {
      case domain::StatusChangeFault::NotAnObject: return "invalid_json";
      case domain::StatusChangeFault::MissingReportId: return "missing_report_id";
      case domain::StatusChangeFault::InvalidReportId: return "invalid_report_id";
      case domain::StatusChangeFault::MissingStatus: return "missing_status";
      case domain::StatusChangeFault::InvalidStatus: return "invalid_status";
    }
    return "invalid_json";
  }();
  return json_error(beast_http::status::bad_request, code, error.message);
}

void ReportApi::register_routes(http::Router& router) {
  // Routes that take a body decide on the head who may call them, before a body byte is read.
  auto guard = [this](Access access) {
    return [this, access](const http::RequestHead& head) -> std::optional<http::Response> {
      auto user = authorize(head, access);
      if (auto* refusal = std::get_if<http::Response>(&user)) return std::move(*refusal);
      return std::nullopt;
    };
  };
  router.add(beast_http::verb::post, "/v4/new/report", [this](const auto& ex) { create_report(ex); },
             {.guard = guard(Access::User)});
  router.add(beast_http::verb::get, "/v4/reports", [this](const auto& ex) { list_reports(ex); });
  router.add(beast_http::verb::put, "/v4/report", [this](const auto& ex) { change_status(ex); },
             {.guard = guard(Access::UserOrPublisher)});
  router.add(beast_http::verb::get, "/v4/sse", [this](const auto& ex) { open_stream(ex); });
}

std::variant<std::string, http::Response> ReportApi::authorize(const http::RequestHead& head,
                                                               Access access) const {
  auto user_id = user_id_of(head.target);
  if (std::holds_alternative<http::Response>(user_id)) return user_id;
  const auto& user = std::get<std::string>(user_id);
  auto refusal = access == Access::UserOrPublisher
                     ? access_.check_user_or_publisher(head, user)
                     : access_.check_subscriber(head, user, auth::SubjectMatch::Uuid);
  if (refusal) return std::move(*refusal);
  return user_id;
}

std::optional<std::string> ReportApi::authorized_user(const http::ExchangePtr& exchange,
                                                      Access access) const {
  auto user = authorize(exchange->request().head(), access);
  if (auto* refusal = std::get_if<http::Response>(&user)) {
    exchange->respond(std::move(*refusal));
    return std::nullopt;
  }
  return std::move(std::get<std::string>(user));
}

void ReportApi::create_report(const http::ExchangePtr& exchange) {
  auto user_id = authorized_user(exchange, Access::User);
  if (!user_id) return;
  service_.create(*user_id, exchange->executor(),
                  [exchange](ReportOutcome outcome) {
                    if (outcome.kind != ReportOutcome::Kind::Done)
                      return exchange->respond(error_for(outcome));
                    auto response = http::json_response(beast_http::status::created,
                                                        domain::to_json(outcome.report));
                    response.set(beast_http::field::location,
                                 "/v4/reports?user_id=" + outcome.report.user_id);
                    exchange->respond(std::move(response));
                  });
}

void ReportApi::list_reports(const http::ExchangePtr& exchange) {
  auto user_id = authorized_user(exchange, Access::User);
  if (!user_id) return;
  service_.list(*user_id, exchange->executor(),
                [exchange](ReportOutcome outcome) {
                  if (outcome.kind != ReportOutcome::Kind::Done)
                    return exchange->respond(error_for(outcome));
                  nlohmann::json body = nlohmann::json::array();
                  for (const auto& report : outcome.reports)
                    body.push_back(domain::to_json(report));
                  exchange->respond(http::json_response(beast_http::status::ok, body));
                });
}

void ReportApi::change_status(const http::ExchangePtr& exchange) {
  auto user_id = authorized_user(exchange, Access::UserOrPublisher);
  if (!user_id) return;
  const auto& raw = exchange->request().raw;
  auto change = parse_status_change(raw[beast_http::field::content_type], raw.body());
  if (auto* error = std::get_if<http::Response>(&change)) return exchange->respond(std::move(*error));
  auto& [report_id, status] = std::get<domain::StatusChange>(change);
  service_.change_status(*user_id, report_id, status, exchange->executor(),
                         [exchange](ReportOutcome outcome) {
                           if (outcome.kind != ReportOutcome::Kind::Done)
                             return exchange->respond(error_for(outcome));
                           exchange->respond(http::json_response(beast_http::status::ok,
                                                                 domain::to_json(outcome.report)));
                         });
}

void ReportApi::open_stream(const http::ExchangePtr& exchange) {
  auto user_id = authorized_user(exchange, Access::User);
  if (!user_id) return;
  streams_.open(exchange, report_stream(*user_id));
}

}  // namespace ssehub::reports
