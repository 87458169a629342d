// SPDX-License-Identifier: MIT
// The bad-input corpus (tests/data/bad, see its README.md): every broken input makes `mixq` exit 1 with one
// "mixq: error: " line naming the file and the problem, and nothing (no output, no temporary) is written.
#include <QProcess>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run run_cli(const QStringList& args) {
    QProcess p;
    p.start(MIXQ_CLI_EXE, args);
    p.waitForFinished(120000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }
fs::path bad() { return fs::path(MIXQ_TEST_DATA_DIR) / "bad"; }

/// A writable copy of the demo model with the case folder's files laid over it.
fs::path model_with(const std::string& name, const fs::path& overlay, bool drop_safetensors = false) {
    const auto dir = mixq_test::scratch("bad_" + name) / "model";
    fs::copy(mixq_test::demo_model(), dir);
    for (const auto& e : fs::directory_iterator(dir)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    if (drop_safetensors) fs::remove(dir / "model.safetensors");
    if (!overlay.empty())
        for (const auto& e : fs::directory_iterator(overlay)) fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
    return dir;
}

/// Exit `code` (1: bad input, 2: usage error), exactly one stderr line "mixq: error: ...", containing every fragment.
void check_error(const Run& r, const QStringList& fragments, int code = 1) {
    const QString e = r.err.trimmed();
    QVERIFY2(r.code == code, qPrintable(QString("exit %1, stderr: %2").arg(r.code).arg(e)));
    QVERIFY2(e.startsWith("mixq: error: ") && !e.contains('\n'), qPrintable(e));
    for (const auto& f : fragments) QVERIFY2(e.contains(f), qPrintable("missing '" + f + "' in: " + e));
}

/// The same check as a value, for cases that record a known core defect with QEXPECT_FAIL.
bool is_error(const Run& r, const QStringList& fragments) {
    const QString e = r.err.trimmed();
    bool ok = r.code == 1 && e.startsWith("mixq: error: ") && !e.contains('\n');
    for (const auto& f : fragments) ok = ok && e.contains(f);
    if (!ok) qWarning("known defect, got: %s", qPrintable(e));
    return ok;
}

/// The output folder holds nothing at all (no output, no temporary).
void check_empty(const fs::path& out) {
    for (const auto& e : fs::directory_iterator(out)) QVERIFY2(false, qPrintable("left behind: " + q(e.path())));
}

}  // namespace

class TestCliBadInputs : public QObject {
    Q_OBJECT

private slots:
    void modelFolders_data() {
        QTest::addColumn<QString>("overlay");
        QTest::addColumn<bool>("sharded");
        QTest::addColumn<QStringList>("fragments");
        auto row = [](const char* c, bool sharded, QStringList f) { QTest::newRow(c) << QString(c) << sharded << f; };
        row("safetensors/truncated", false, {"model.safetensors", "truncated"});
        row("safetensors/huge_header", false, {"model.safetensors", "implausibly large"});
        row("safetensors/broken_json", false, {"model.safetensors", "not valid JSON"});
        row("safetensors/header_not_object", false, {"model.safetensors", "not a JSON object"});
        row("safetensors/offsets_past_end", false, {"model.safetensors", "x.weight", "past the end"});
        row("safetensors/overlapping", false, {"model.safetensors", "overlap"});
        row("safetensors/dtype_i8", false, {"model.safetensors", "I8", "not supported"});
        row("safetensors/zero_size", false, {"model.embed_tokens.weight", "[0, 128]"});
        row("safetensors/shape_size_mismatch", false, {"model.safetensors", "a.weight", "data_offsets"});
        row("safetensors/duplicate_names", false, {"model.safetensors", "a.weight", "duplicate"});
        row("safetensors/shard_missing", true, {"model-00001-of-00002.safetensors", "missing"});
        row("safetensors/index_outside", true, {"model.safetensors.index.json", "outside the folder"});
        row("safetensors/index_not_json", true, {"model.safetensors.index.json", "not valid JSON"});
        row("config/negative_sizes", false, {"config.json", "hidden_size", "positive"});
        row("config/zero_layers", false, {"config.json", "num_hidden_layers", "positive"});
        row("config/heads_not_dividing", false, {"config.json", "does not divide hidden_size"});
        row("config/kv_heads_not_dividing", false, {"config.json", "num_key_value_heads"});
        row("config/unknown_model_type", false, {"config.json", "gpt-frobnicator", "not supported"});
        row("config/missing_key", false, {"config.json", "missing key 'num_hidden_layers'"});
        row("config/not_json", false, {"config.json", "not valid JSON"});
        // Issue 22: checkpoint and config disagree; wrong-typed or out-of-range values (never a default).
        row("config/untied_no_lm_head", false, {"config.json", "tie_word_embeddings is false", "lm_head.weight", "missing"});
        row("config/fewer_layers", false, {"model.safetensors", "model.layers.5.", "layer 5", "num_hidden_layers 5"});
        row("config/tie_as_string", false, {"config.json", "tie_word_embeddings", "\"false\""});
        row("config/hidden_act_list", false, {"config.json", "hidden_act", "[\"silu\"]"});
        row("config/huge_integer", false, {"config.json", "num_hidden_layers", "8.9e+97"});
        row("config/huge_eos_id", false, {"config.json", "eos_token_id[1]", "1e+20"});
        row("config/dtype_disagrees", false, {"model.safetensors", "model.embed_tokens.weight", "BF16", "float16"});
        row("safetensors/bias_without_attention_bias", false,
            {"extra.safetensors", "model.layers.0.self_attn.q_proj.bias", "attention_bias false"});
        row("safetensors/extra_layer", false, {"extra.safetensors", "model.layers.6.input_layernorm.weight", "num_hidden_layers 6"});
        row("safetensors/unexpected_tensor", false, {"extra.safetensors", "model.layers.0.self_attn.rotary_scale", "unexpected"});
        row("safetensors/unlisted_in_shard", false, {"model.safetensors", "model.norm.weight", "does not list"});
        row("safetensors/trailing_bytes", false, {"a-tail.safetensors", "16 bytes after the last tensor"});
        // Issue 18: fields that change the computation and MixQ does not implement are refused, never ignored.
        row("config/unknown_rope_type", false, {"config.json", "rope_parameters.rope_type", "yarn"});
        row("config/partial_rotary", false, {"config.json", "partial_rotary_factor", "0.5"});
        row("config/mlp_bias_true", false, {"config.json", "mlp_bias"});
        row("config/unknown_key", false, {"config.json", "quantization_config", "gptq"});
        row("config/rope_theta_disagrees", false, {"config.json", "rope_theta", "10000", "500000"});
    }
    void modelFolders() {
        QFETCH(QString, overlay);
        QFETCH(bool, sharded);
        QFETCH(QStringList, fragments);
        const auto dir = model_with(overlay.toStdString().substr(overlay.indexOf('/') + 1), bad() / overlay.toStdString(), sharded);
        check_error(run_cli({"info", q(dir)}), fragments);
        // The same refusal from a command that writes: nothing is written.
        const auto out = mixq_test::scratch("bad_out_" + overlay.toStdString().substr(overlay.indexOf('/') + 1));
        check_error(run_cli({"logits", q(dir), "--ids", "1,2", "--out", q(out / "l.f32")}), fragments);
        check_empty(out);
    }

    void tiedModelWithLmHead() {
        // tie_word_embeddings true and a different lm_head.weight in the files: transformers ties (the embedding
        // table is the lm_head), so MixQ does too, and `mixq info` says the tensor is ignored.
        const auto dir = model_with("tied_lm_head", {});
        std::vector<uint8_t> bytes(1024 * 128 * 2, 0);
        mixq::io::write_safetensors(dir / "head.safetensors", {{"lm_head.weight", mixq::io::DType::BF16, {1024, 128}, bytes}});
        auto names = mixq::io::TensorStore::open_file(dir / "model.safetensors")->names();
        nlohmann::json wm;
        for (const auto& n : names) wm[n] = "model.safetensors";
        wm["lm_head.weight"] = "head.safetensors";
        std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json({{"weight_map", wm}}).dump();
        const Run info = run_cli({"info", q(dir)});
        QVERIFY2(info.code == 0, qPrintable(info.err));
        QVERIFY2(info.out.contains("ignored tensor: lm_head.weight") && info.out.contains("tie_word_embeddings is true"),
                 qPrintable(info.out));
        // The logits are the demo model's (tied), not those of the all-zero lm_head.
        const auto out = mixq_test::scratch("tied_lm_head_out");
        QCOMPARE(run_cli({"logits", q(dir), "--ids", "5,6", "--out", q(out / "a.f32")}).code, 0);
        QCOMPARE(run_cli({"logits", q(mixq_test::demo_model()), "--ids", "5,6", "--out", q(out / "b.f32")}).code, 0);
        const std::string a = mixq_test::read_text(out / "a.f32"), b = mixq_test::read_text(out / "b.f32");
        QCOMPARE(a.size(), size_t(2 * 1024 * 4));
        QVERIFY(a == b);
    }

    void tokenizerFiles_data() {
        QTest::addColumn<QString>("overlay");
        QTest::addColumn<QStringList>("fragments");
        QTest::newRow("merges_not_in_vocab") << "tokenizer/merges_not_in_vocab" << QStringList{"tokenizer.json", "zzqq_not_in_vocab", "not in the vocabulary"};
        QTest::newRow("not_json") << "tokenizer/not_json" << QStringList{"tokenizer.json", "not valid JSON"};
    }
    void tokenizerFiles() {
        QFETCH(QString, overlay);
        QFETCH(QStringList, fragments);
        const auto dir = model_with("tok_" + overlay.mid(10).toStdString(), bad() / overlay.toStdString());
        check_error(run_cli({"tokenize", q(dir), "--text", "hello"}), fragments);
    }

    void planAndScores() {
        const auto out = mixq_test::scratch("bad_plan_out");
        const QString demo = q(mixq_test::demo_model());
        check_error(run_cli({"export", demo, "--plan", q(bad() / "plan/other_model/plan.json"), "--out", q(out / "exp")}), {"plan", "72a03be08978abd1"});
        check_error(run_cli({"export", demo, "--plan", q(bad() / "plan/malformed/plan.json"), "--out", q(out / "exp")}), {"plan.json", "not valid JSON"});
        check_error(run_cli({"export", demo, "--plan", q(bad() / "plan/unknown_format/plan.json"), "--out", q(out / "exp")}), {"plan.json", "int3-g7"});
        check_error(run_cli({"logits", demo, "--ids", "1,2", "--plan", q(bad() / "plan/malformed/plan.json"), "--out", q(out / "l.f32")}), {"plan.json"});
        check_error(run_cli({"plan", demo, "--scores", q(bad() / "scores/other_model/scores.json"), "--target-bits", "5", "--out", q(out / "p.json")}),
                    {"scores.json", "re-run mixq score"});
        check_error(run_cli({"plan", demo, "--scores", q(bad() / "scores/malformed/scores.json"), "--target-bits", "5", "--out", q(out / "p.json")}),
                    {"scores.json", "not valid JSON"});
        check_empty(out);
    }

    void evalData() {
        const auto out = mixq_test::scratch("bad_eval_out");
        const QString demo = q(mixq_test::demo_model()), res = q(out / "r.json");
        check_error(run_cli({"eval", demo, "--mmlu", q(bad() / "mmlu/three_choices"), "--no-baseline", "--out", res}), {"three_choices_test.csv:1", "expected 6 fields"});
        check_error(run_cli({"eval", demo, "--mmlu", q(bad() / "mmlu/unterminated_quote"), "--no-baseline", "--out", res}), {"unterminated_test.csv", "unterminated quoted field"});
        check_error(run_cli({"eval", demo, "--piqa", q(bad() / "piqa/labels_short"), "--no-baseline", "--out", res}), {"valid-labels.lst", "1 labels for 2 items"});
        check_error(run_cli({"eval", demo, "--piqa", q(bad() / "piqa/bad_line"), "--no-baseline", "--out", res}), {"valid.jsonl:2", "malformed JSON"});
        check_empty(out);
    }

    void calibrationAndIds() {
        const auto out = mixq_test::scratch("bad_calib_out");
        const QString demo = q(mixq_test::demo_model());
        check_error(run_cli({"score", demo, "--out", q(out / "s.json"), "--calib", q(bad() / "calib/empty.txt"), "--quiet"}), {"empty.txt", "empty"});
        check_error(run_cli({"generate", demo, "--ids", "1,99999", "-n", "2"}), {"--ids", "99999", "outside the vocabulary"});
        check_error(run_cli({"logits", demo, "--ids", "1,1024", "--out", q(out / "l.f32")}), {"--ids", "1024", "outside the vocabulary", "size 1024"});
        check_error(run_cli({"logits", demo, "--ids", "-1", "--out", q(out / "l.f32")}), {"--ids", "'-1'"}, 2);  // usage
        check_empty(out);
        const bool ok = is_error(run_cli({"ppl", demo, "--text", q(bad() / "calib/empty.txt")}), {"empty.txt"});
        QVERIFY(ok);
    }

    void nonFiniteWeights() {
        // demo model with BF16 NaN/Inf written into model.layers.0.self_attn.q_proj.weight (offset 262144 of the data)
        const auto dir = model_with("nan", {});
        {
            std::fstream f(dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
            uint64_t n = 0;
            f.read(reinterpret_cast<char*>(&n), 8);
            const uint16_t nan = 0x7FC0, inf = 0x7F80;
            f.seekp(std::streamoff(8 + n + 262144));
            f.write(reinterpret_cast<const char*>(&nan), 2);
            f.seekp(std::streamoff(8 + n + 262144 + 100));
            f.write(reinterpret_cast<const char*>(&inf), 2);
        }
        const auto out = mixq_test::scratch("bad_nan_out");
        const QString m = q(dir);
        const Run s = run_cli({"score", m, "--out", q(out / "s.json"), "--samples", "1", "--seq-len", "8", "--quiet"});
        QCOMPARE(s.code, 1);
        check_empty(out);
        // export: a plan for this model is the demo plan with the hash the CLI reports for the patched model
        const auto work = mixq_test::scratch("bad_nan_plan");
        const QString demo = q(mixq_test::demo_model());
        QCOMPARE(run_cli({"score", demo, "--out", q(work / "s.json"), "--samples", "1", "--seq-len", "16", "--quiet"}).code, 0);
        QCOMPARE(run_cli({"plan", demo, "--scores", q(work / "s.json"), "--target-bits", "5", "--out", q(work / "p.json")}).code, 0);
        const Run h = run_cli({"export", m, "--plan", q(work / "p.json"), "--out", q(out / "exp")});
        const QString hash = h.err.trimmed().section("has hash ", 1).trimmed();
        QCOMPARE(hash.size(), 16);
        QString plan = QString::fromStdString(mixq_test::read_text(work / "p.json"));
        plan.replace("72a03be08978abd1", hash);
        std::ofstream(work / "p2.json") << plan.toStdString();
        Run e = run_cli({"export", m, "--plan", q(work / "p2.json"), "--out", q(out / "exp")});
        QCOMPARE(e.code, 1);
        check_empty(out);
        e.err = e.err.trimmed().section('\n', -1);  // the progress line is ended before the error: keep the last line
        const bool score_named = is_error(s, {"model.layers.0.self_attn.q_proj.weight"});
        const bool export_named = is_error(e, {"model.layers.0.self_attn.q_proj.weight"});
        QVERIFY(score_named);
        QVERIFY(export_named);
    }

    void unwritableOutputs() {
        const auto out = mixq_test::scratch("bad_unwritable");
        std::ofstream(out / "afile") << "x";
        const QString demo = q(mixq_test::demo_model());
        const auto work = mixq_test::scratch("bad_unwritable_plan");  // a valid plan, made here
        QCOMPARE(run_cli({"score", demo, "--out", q(work / "s.json"), "--samples", "1", "--seq-len", "16", "--quiet"}).code, 0);
        QCOMPARE(run_cli({"plan", demo, "--scores", q(work / "s.json"), "--target-bits", "5", "--out", q(work / "p.json")}).code, 0);
        check_error(run_cli({"export", demo, "--plan", q(work / "p.json"), "--out", q(out / "afile/sub")}), {"afile"});
        check_error(run_cli({"score", demo, "--out", q(out / "afile/s.json"), "--samples", "1", "--seq-len", "8", "--quiet"}), {"afile", "Not a directory"});
        int n = 0;
        for (const auto& e : fs::directory_iterator(out)) n += e.path().filename() != "afile";
        QCOMPARE(n, 0);
    }
};

QTEST_GUILESS_MAIN(TestCliBadInputs)
#include "test_cli_bad_inputs.moc"
