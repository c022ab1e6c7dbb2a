// ondevice-et-runner: times an ExecuTorch program (.pte) through the Module API and prints one JSON object.
//
// The same source builds for x86-64 and aarch64 Linux against the libraries the executorch wheels ship,
// and for Android with the NDK (see CMakeLists.txt). It depends on nothing but those libraries and the
// C++ runtime, and finds them through its rpath ($ORIGIN), so the binary and its .so files can be copied
// together to a device and run there.
//
// Command line (the contract the profiling targets rely on):
//
//   ondevice-et-runner --model PATH [--method NAME] [--threads N] [--warmup W] [--runs R] [--ids 101,2023,102]
//
//   --model    the .pte file
//   --method   the method to run; default: "forward", else the first "forward_<len>" method
//   --threads  XNNPACK / kernel thread-pool size (default 1)
//   --warmup   untimed runs after the first inference (default 3)
//   --runs     timed runs (default 10)
//   --ids      token ids of one sentence, [CLS] ... [SEP]; padded with 0 to the method's length, with an
//              attention mask of 1 over the given ids (default 101,2023,2003,102)
//
// Output on stdout, one line, on success (exit 0):
//
//   {"runner": "ondevice-et-runner", "runner_version": 1, "executorch_version": "...",
//    "model": PATH, "method": NAME, "seq_len": L, "input_dtype": "int32"|"int64",
//    "threads": N, "warmup": W, "runs": R, "load_ms": F, "first_inference_ms": F,
//    "samples_ms": [F, ...], "peak_rss_bytes": N, "logits": [F, ...]}
//
//   load_ms: constructing the Module, loading the program and the method (delegate init included);
//   first_inference_ms: the first execute() after loading, not counted in warmup or samples;
//   samples_ms: one wall-clock time per timed run (steady clock); logits: the output of the first
//   inference; peak_rss_bytes: VmHWM from /proc/self/status (getrusage's ru_maxrss where it is absent).
//
// On failure: {"error": "one line"} on stdout and exit status 1 (2 for a bad command line). A runtime
// error names ExecuTorch's code, e.g. "not a loadable ExecuTorch program (Error 0x23: InvalidProgram)".
//
// Progress on stderr, one line per fact as soon as it is measured, so that a caller that loses the
// process midway (a crash, a device that disconnects) still has the samples so far:
//   ondevice: load_ms=F / ondevice: first_inference_ms=F / ondevice: sample_ms=F (one per timed run)
// Other stderr lines (the runtime's own logging) carry no meaning for the caller.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <sys/resource.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef ONDEVICE_EXECUTORCH_VERSION
#define ONDEVICE_EXECUTORCH_VERSION "unknown"
#endif

// The wheels ship libexecutorch_threadpool.so but not its header; this is the one call we need from it.
// Only the member function is declared: no object layout is assumed.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

using executorch::aten::ScalarType;
using executorch::extension::make_tensor_ptr;
using executorch::extension::TensorPtr;
using executorch::extension::Program;
using executorch::extension::module::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

namespace {

constexpr int kRunnerVersion = 1;

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& message, int code = 1) {
  std::printf("{\"error\": \"%s\"}\n", json_escape(message).c_str());
  std::fflush(stdout);
  std::exit(code);
}

// "Error 0x23: InvalidProgram": the code as ExecuTorch's headers define it, and its name.
std::string describe(Error err) {
  char code[16];
  std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(err));
  std::string name = executorch::runtime::to_string(err);
  if (name.rfind("Error::", 0) == 0) name = name.substr(7);
  return "Error " + std::string(code) + ": " + name;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

struct Args {
  std::string model;
  std::string method;
  int threads = 1;
  int warmup = 3;
  int runs = 10;
  std::vector<int64_t> ids = {101, 2023, 2003, 102};
};

long parse_int(const std::string& flag, const std::string& value, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(value.c_str(), &end, 10);
  if (errno || end == value.c_str() || *end || v < lo || v > hi) {
    fail(flag + " takes an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" +
             value + "'",
         2);
  }
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fprintf(stderr,
                   "usage: %s --model PATH [--method NAME] [--threads N] [--warmup W] [--runs R] "
                   "[--ids 101,2023,102]\n",
                   argv[0]);
      std::exit(0);
    }
    if (i + 1 >= argc) fail(flag + " needs a value", 2);
    std::string value = argv[++i];
    if (flag == "--model") {
      a.model = value;
    } else if (flag == "--method") {
      a.method = value;
    } else if (flag == "--threads") {
      a.threads = static_cast<int>(parse_int(flag, value, 1, 256));
    } else if (flag == "--warmup") {
      a.warmup = static_cast<int>(parse_int(flag, value, 0, 1000000));
    } else if (flag == "--runs") {
      a.runs = static_cast<int>(parse_int(flag, value, 1, 1000000));
    } else if (flag == "--ids") {
      a.ids.clear();
      std::stringstream ss(value);
      std::string item;
      while (std::getline(ss, item, ',')) a.ids.push_back(parse_int("--ids", item, 0, INT32_MAX));
      if (a.ids.empty()) fail("--ids needs at least one token id", 2);
    } else {
      fail("unknown option " + flag, 2);
    }
  }
  if (a.model.empty()) fail("--model PATH is required", 2);
  return a;
}

int64_t peak_rss_bytes() {
  // VmHWM belongs to this program's address space. getrusage's ru_maxrss is only a fallback: Linux
  // carries it across fork and exec, so it can report the parent's peak instead of ours.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  struct rusage usage {};
  return getrusage(RUSAGE_SELF, &usage) == 0 ? int64_t(usage.ru_maxrss) * 1024 : -1;
}

void progress(const char* what, double value) {
  std::fprintf(stderr, "ondevice: %s=%.9g\n", what, value);
  std::fflush(stderr);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string pick_method(Module& module, const std::string& wanted) {
  auto names = module.method_names();
  if (!names.ok()) fail("cannot read the program's methods (" + describe(names.error()) + ")");
  if (!wanted.empty()) {
    if (!names->count(wanted)) fail("the program has no method '" + wanted + "'");
    return wanted;
  }
  if (names->count("forward")) return "forward";
  for (const auto& n : *names) {
    if (n.rfind("forward_", 0) == 0) return n;  // std::set: the first in name order
  }
  fail("the program has no forward method");
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  if (std::FILE* f = std::fopen(args.model.c_str(), "rb")) {
    std::fclose(f);
  } else {
    fail(args.model + ": cannot open (" + std::strerror(errno) + ")");
  }
  if (auto* pool = executorch::extension::threadpool::get_threadpool()) {
    pool->_unsafe_reset_threadpool(static_cast<uint32_t>(args.threads));
  }

  {
    // A damaged .pte must be refused with ExecuTorch's own error, not crash the runner: check the
    // program's internal consistency first, untimed (the timed load below is the app's, Minimal).
    Module check(args.model, Module::LoadMode::Mmap);
    Error err = check.load(Program::Verification::InternalConsistency);
    if (err != Error::Ok) fail(args.model + ": not a loadable ExecuTorch program (" + describe(err) + ")");
  }
  auto t0 = std::chrono::steady_clock::now();
  Module module(args.model, Module::LoadMode::Mmap);
  Error err = module.load();
  if (err != Error::Ok) fail(args.model + ": not a loadable ExecuTorch program (" + describe(err) + ")");
  std::string method = pick_method(module, args.method);
  err = module.load_method(method);
  if (err != Error::Ok) fail("cannot load method '" + method + "' (" + describe(err) + ")");
  double load_ms = ms_since(t0);
  progress("load_ms", load_ms);

  auto meta = module.method_meta(method);
  // A pair model's methods take token_type_ids third: zeros here, one segment, which is all timing needs.
  if (!meta.ok() || (meta->num_inputs() != 2 && meta->num_inputs() != 3)) {
    fail("method '" + method + "' does not take (input_ids, attention_mask[, token_type_ids])");
  }
  const bool types = meta->num_inputs() == 3;
  auto in0 = meta->input_tensor_meta(0);
  if (!in0.ok() || in0->sizes().size() != 2 || in0->sizes()[0] != 1) fail("method '" + method + "' does not take a (1, L) input");
  const int32_t seq_len = in0->sizes()[1];
  const ScalarType dtype = in0->scalar_type();
  if (dtype != ScalarType::Int && dtype != ScalarType::Long) fail("inputs must be int32 or int64 token ids");
  if (static_cast<int64_t>(args.ids.size()) > seq_len) {
    fail("--ids has " + std::to_string(args.ids.size()) + " tokens; method '" + method + "' takes " +
         std::to_string(seq_len));
  }

  std::vector<int64_t> ids64(seq_len, 0), mask64(seq_len, 0);
  for (size_t i = 0; i < args.ids.size(); ++i) {
    ids64[i] = args.ids[i];
    mask64[i] = 1;
  }
  std::vector<int64_t> types64(seq_len, 0);
  std::vector<int32_t> ids32(ids64.begin(), ids64.end()), mask32(mask64.begin(), mask64.end()), types32(seq_len, 0);
  TensorPtr ids, mask, type_ids;
  if (dtype == ScalarType::Int) {
    ids = make_tensor_ptr({1, seq_len}, ids32.data(), ScalarType::Int);
    mask = make_tensor_ptr({1, seq_len}, mask32.data(), ScalarType::Int);
    type_ids = make_tensor_ptr({1, seq_len}, types32.data(), ScalarType::Int);
  } else {
    ids = make_tensor_ptr({1, seq_len}, ids64.data(), ScalarType::Long);
    mask = make_tensor_ptr({1, seq_len}, mask64.data(), ScalarType::Long);
    type_ids = make_tensor_ptr({1, seq_len}, types64.data(), ScalarType::Long);
  }
  std::vector<EValue> inputs = {*ids, *mask};
  if (types) inputs.push_back(*type_ids);

  auto run_once = [&]() {
    auto result = module.execute(method, inputs);
    if (!result.ok()) fail("method '" + method + "' failed (" + describe(result.error()) + ")");
    return result;
  };

  t0 = std::chrono::steady_clock::now();
  auto first = run_once();
  double first_ms = ms_since(t0);
  progress("first_inference_ms", first_ms);
  if (first->empty() || !(*first)[0].isTensor()) fail("method '" + method + "' returned no tensor");
  const auto& out = (*first)[0].toTensor();
  if (out.scalar_type() != ScalarType::Float) fail("method '" + method + "' returned non-float logits");
  std::vector<double> logits(out.const_data_ptr<float>(), out.const_data_ptr<float>() + out.numel());

  for (int i = 0; i < args.warmup; ++i) run_once();
  std::vector<double> samples;
  samples.reserve(args.runs);
  for (int i = 0; i < args.runs; ++i) {
    t0 = std::chrono::steady_clock::now();
    run_once();
    samples.push_back(ms_since(t0));
    progress("sample_ms", samples.back());
  }

  std::string s = "{\"runner\": \"ondevice-et-runner\", \"runner_version\": " + std::to_string(kRunnerVersion);
  s += ", \"executorch_version\": \"" + json_escape(ONDEVICE_EXECUTORCH_VERSION) + "\"";
  s += ", \"model\": \"" + json_escape(args.model) + "\", \"method\": \"" + json_escape(method) + "\"";
  s += ", \"seq_len\": " + std::to_string(seq_len);
  s += std::string(", \"input_dtype\": \"") + (dtype == ScalarType::Int ? "int32" : "int64") + "\"";
  s += ", \"threads\": " + std::to_string(args.threads) + ", \"warmup\": " + std::to_string(args.warmup);
  s += ", \"runs\": " + std::to_string(args.runs);
  s += ", \"load_ms\": " + number(load_ms) + ", \"first_inference_ms\": " + number(first_ms);
  s += ", \"samples_ms\": [";
  for (size_t i = 0; i < samples.size(); ++i) s += (i ? ", " : "") + number(samples[i]);
  s += "], \"peak_rss_bytes\": " + std::to_string(peak_rss_bytes()) + ", \"logits\": [";
  for (size_t i = 0; i < logits.size(); ++i) s += (i ? ", " : "") + number(logits[i]);
  s += "]}";
  std::printf("%s\n", s.c_str());
  return 0;
}
