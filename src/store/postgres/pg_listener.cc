// Listener implementation: a thread that polls the connection's socket and a stop pipe, so it
// sleeps until the server sends something or the owner stops it, and reconnects on its own.
#include "store/postgres/pg_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "store/postgres/pg_connection.h"
#include "util/thread_name.h"

namespace cityhub::store::pg {
namespace {

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.substr(0, 200);
}

// A connection that LISTENs on every channel, or null with *error set.
pg_conn* ConnectAndListen(const ListenerOptions& o, std::string* error) {
  const std::string timeout = std::to_string(std::max<int64_t>(2, o.connect_timeout.count()));
  // TCP keepalives find a server that vanished without closing the socket (a machine lost):
  // the listener is idle most of the time and would otherwise wait on a dead socket forever.
  // They come before "dbname" so that the operator's conninfo, expanded from it, overrides them.
  const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "dbname",     "connect_timeout", "application_name",    "client_encoding", nullptr};
  const char* values[] = {"1", "10", "3", "3", o.conninfo.c_str(), timeout.c_str(), "cityhub-listener", "UTF8", nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    *error = fmt::format("PostgreSQL: the listener cannot connect to {}: {}", RedactedConninfo(o.conninfo),
                         conn ? Trimmed(PQerrorMessage(conn)) : "out of memory");
    if (conn) PQfinish(conn);
    return nullptr;
  }
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  for (const std::string& channel : o.channels) {
    char* quoted = PQescapeIdentifier(conn, channel.data(), channel.size());
    if (!quoted) {
      *error = fmt::format("PostgreSQL: cannot quote channel name: {}", Trimmed(PQerrorMessage(conn)));
      PQfinish(conn);
      return nullptr;
    }
    pg_result* r = PQexec(conn, (std::string("LISTEN ") + quoted).c_str());
    PQfreemem(quoted);
    const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) *error = fmt::format("PostgreSQL: LISTEN failed: {}", Trimmed(PQerrorMessage(conn)));
    PQclear(r);
    if (!ok) {
      PQfinish(conn);
      return nullptr;
    }
  }
  return conn;
}

}  // namespace

struct Listener::State {
  ListenerOptions options;
  pg_conn* conn = nullptr;
  int stop_read = -1, stop_write = -1;  // a byte written to stop_write wakes and stops the thread
  std::thread thread;

  ~State() {
    if (conn) PQfinish(conn);
    if (stop_read >= 0) close(stop_read);
    if (stop_write >= 0) close(stop_write);
  }

  // Waits until the socket `fd` (none: -1) is readable or `timeout_ms` passes (-1: no limit);
  // false once stopped.
  bool Wait(int fd, int timeout_ms) {
    pollfd fds[2] = {{stop_read, POLLIN, 0}, {fd, POLLIN, 0}};
    const int n = poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
    return !(n > 0 && (fds[0].revents & POLLIN));
  }

  void Run() {
    for (;;) {
      if (!conn) {
        if (!Wait(-1, static_cast<int>(options.retry_delay.count()))) return;
        std::string error;
        conn = ConnectAndListen(options, &error);
        if (conn && options.on_resumed) options.on_resumed();
        continue;
      }
      if (!Wait(PQsocket(conn), -1)) return;
      if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = nullptr;
        continue;
      }
      while (PGnotify* n = PQnotifies(conn)) {
        if (options.on_notify) options.on_notify(n->relname, n->extra ? n->extra : "");
        PQfreemem(n);
      }
    }
  }
};

Result<std::unique_ptr<Listener>> Listener::Start(ListenerOptions options) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Status::Internal("the listener cannot make its stop pipe");
  state->stop_read = fds[0];
  state->stop_write = fds[1];
  std::string error;
  state->conn = ConnectAndListen(state->options, &error);
  if (!state->conn) return Status(Status::Code::kUnavailable, error);
  State* s = state.get();
  s->thread = std::thread([s] {
    util::NameThisThread("pg-listener");
    s->Run();
  });
  return std::unique_ptr<Listener>(new Listener(std::move(state)));
}

Listener::Listener(std::unique_ptr<State> state) : state_(std::move(state)) {}

Listener::~Listener() {
  const char byte = 0;
  while (write(state_->stop_write, &byte, 1) < 0 && errno == EINTR) {
  }
  state_->thread.join();
}

}  // namespace cityhub::store::pg
