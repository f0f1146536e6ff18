#include "util/thread_name.h"

#include <pthread.h>

#include <string>

namespace cityhub::util {

void NameThisThread(std::string_view name) {
  std::string cut(name.substr(0, 15));  // the kernel's limit (16 bytes with the terminator)
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace cityhub::util
