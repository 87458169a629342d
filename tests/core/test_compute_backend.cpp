// SPDX-License-Identifier: MIT
// Compute backends: the CPU backend lists the host with its memory, select_backend's answers and one-line errors for
// auto / cpu / cuda with no, an unusable and a usable accelerator registered, and registration by name.
#include <QtTest>

#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/eval/speed_bench.h"
#include "core/score/scorer.h"
#include "core/score/scoring_engine.h"
#include "test_support.h"

using namespace mixq;

namespace {

/// An accelerator named "cuda" whose one device is usable or not (the registry's answers, not a device's).
class FakeCuda : public backend::ComputeBackend {
public:
    explicit FakeCuda(bool usable) : m_usable(usable) {}
    std::string name() const override { return "cuda"; }
    std::vector<backend::Device> devices(std::string* why) const override {
        if (!m_usable) {
            if (why) *why = "CUDA unavailable: no device";
            return {};
        }
        return {backend::Device{"cuda", 0, "Fake GPU", 80ull << 30, 79ull << 30}};
    }
    std::unique_ptr<score::ScoringEngine> scoring_engine(std::shared_ptr<const io::Model>, const score::CalibrationSet&,
                                                         const score::ScoreOptions&, const JobContext&) const override {
        fail("fake", "not a device");
    }
    std::unique_ptr<engine::LanguageModel> open_model(std::shared_ptr<const io::Model>,
                                                      const backend::LogFn&) const override {
        fail("fake", "not a device");
    }
    std::unique_ptr<eval::DecoderSession> speed_session(std::shared_ptr<const io::Model>, const plan::Plan*, int,
                                       const backend::LogFn&) const override {
        fail("fake", "not a device");
    }

private:
    bool m_usable;
};

std::string on(const std::string& device, std::string* note = nullptr) {
    return backend::select_backend(device, "--device", note)->name();
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

class TestComputeBackend : public QObject {
    Q_OBJECT

private slots:
    void cleanup() { backend::unregister_backend("cuda"); }

    void cpuBackendListsTheHost() {  // registered at start-up by tests/register_backends.cpp, as the programs do
        const auto cpu = backend::find_backend("cpu");
        QVERIFY(cpu);
        const auto devs = cpu->devices();
        QCOMPARE(devs.size(), size_t(1));
        QCOMPARE(QString::fromStdString(devs[0].id()), QString("cpu"));
        QVERIFY(devs[0].total_bytes > 0);
        QVERIFY(devs[0].free_bytes > 0);
        QVERIFY(cpu->usable());
        QVERIFY(!cpu->has_speed_session());
    }

    void withoutAccelerator() {
        backend::unregister_backend("cuda");
        QCOMPARE(on("cpu"), std::string("cpu"));
        std::string note;
        QCOMPARE(on("auto", &note), std::string("cpu"));
        QCOMPARE(note, std::string());  // nothing registered: nothing to report
        QCOMPARE(error_of([] { on("cuda"); }),
                 std::string("--device cuda: this build has no CUDA backend (built without the CUDA toolkit)"));
        QVERIFY(error_of([] { on("tpu"); }).find("must be auto, cpu or cuda, got 'tpu'") != std::string::npos);
        std::string why;
        QVERIFY(!backend::accelerator_usable(&why));
        QCOMPARE(why, std::string("this build has no GPU backend"));
    }

    void unusableAccelerator() {
        backend::register_backend(std::make_shared<FakeCuda>(false));
        std::string note;
        QCOMPARE(on("auto", &note), std::string("cpu"));
        QCOMPARE(note, std::string("CUDA unavailable: no device"));
        QCOMPARE(error_of([] { on("cuda"); }), std::string("--device cuda: CUDA unavailable: no device"));
        QCOMPARE(backend::find_backend("cuda")->device_name(), std::string("cuda"));
    }

    void usableAcceleratorReplacesByName() {
        backend::register_backend(std::make_shared<FakeCuda>(false));
        backend::register_backend(std::make_shared<FakeCuda>(true));  // same name: replaces
        QCOMPARE(backend::backends().size(), size_t(2));
        std::string note;
        QCOMPARE(on("auto", &note), std::string("cuda"));
        QCOMPARE(note, std::string());
        QCOMPARE(on("cpu"), std::string("cpu"));
        QVERIFY(backend::accelerator_usable(nullptr));
        QCOMPARE(backend::find_backend("cuda")->device_name(), std::string("cuda:0 (Fake GPU)"));
    }
};

QTEST_APPLESS_MAIN(TestComputeBackend)
#include "test_compute_backend.moc"
