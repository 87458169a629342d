// SPDX-License-Identifier: MIT
// Evaluation tasks with a fake log-likelihood source whose answers are known by construction: MMLU (prompt text,
// letter choice, accuracy, per-subject, stderr) and PIQA (acc vs acc_norm, length in code points) on hand-made
// fixtures in tests/data/eval; the RFC 4180 CSV parser; malformed CSV / JSON lines / label counts give one-line
// errors naming file:line; --limit order; the real MMLU (5,700 rows, 57 subjects) and PIQA (1,838) files load.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <map>

#include "core/common/error.h"
#include "core/eval/csv.h"
#include "core/eval/measured_kld.h"
#include "core/eval/mmlu.h"
#include "core/eval/piqa.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::eval;
namespace fs = std::filesystem;
using mixq_test::error_of;

namespace {

fs::path data_dir() { return fs::path(MIXQ_TEST_DATA_DIR) / "eval"; }

/// MMLU fake: the choice whose "X. ..." line in the prompt contains the word "correct" gets log-likelihood 0,
/// every other choice −3. It also records the prompts it saw.
class MarkerSource : public LoglikSource {
public:
    std::vector<std::string> prompts;
    std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& conts) override {
        prompts.push_back(context);
        std::vector<LoglikResult> out;
        for (const auto& c : conts) {
            if (c.size() != 2 || c[0] != ' ') throw std::runtime_error("unexpected continuation '" + c + "'");
            const std::string tag = "\n" + c.substr(1) + ". ";
            const auto p = context.find(tag);
            const auto e = context.find('\n', p + 1);
            const std::string line = p == std::string::npos ? "" : context.substr(p, e - p);
            out.push_back({line.find("correct") != std::string::npos ? 0.0 : -3.0, false, 1});
        }
        return out;
    }
};

/// PIQA fake: fixed log-likelihoods per continuation text; the context must have the harness form.
class TableSource : public LoglikSource {
public:
    std::map<std::string, double> table;
    std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& conts) override {
        if (context.rfind("Question: ", 0) != 0 || context.size() < 8 || context.substr(context.size() - 8) != "\nAnswer:")
            throw std::runtime_error("unexpected context '" + context + "'");
        std::vector<LoglikResult> out;
        for (const auto& c : conts) out.push_back({table.at(c), false, 1});
        return out;
    }
};

}  // namespace

class TestEvalTasks : public QObject {
    Q_OBJECT

private slots:
    void csvRfc4180() {
        const std::string text =
            "\xEF\xBB\xBF"
            "plain,\"quoted, with comma\",\"doubled \"\"quotes\"\"\"\r\n"
            "\n"
            "\"multi\nline\",,last\n"
            "5\" tall,x\"y,\"\"\n"
            "trailing,comma,";
        const auto rows = parse_csv(text, "t.csv");
        QCOMPARE(rows.size(), size_t(4));
        QCOMPARE(rows[0].fields, (std::vector<std::string>{"plain", "quoted, with comma", "doubled \"quotes\""}));
        QCOMPARE(rows[0].line, 1);
        QCOMPARE(rows[1].fields, (std::vector<std::string>{"multi\nline", "", "last"}));
        QCOMPARE(rows[1].line, 3);
        QCOMPARE(rows[2].fields, (std::vector<std::string>{"5\" tall", "x\"y", ""}));
        QCOMPARE(rows[2].line, 5);
        QCOMPARE(rows[3].fields, (std::vector<std::string>{"trailing", "comma", ""}));
        QCOMPARE(error_of([] { parse_csv("a,b\n\"open,\nnever closed\n", "x.csv"); }),
                 std::string("x.csv:2: unterminated quoted field (the file ends inside quotes)"));
        QCOMPARE(error_of([] { parse_csv("a\n\"q\"z,b\n", "y.csv"); }),
                 std::string("y.csv:2: unexpected character 'z' after a closing quote"));
    }

    void mmluScoringWithKnownAnswers() {
        const auto qs = load_mmlu(data_dir() / "mmlu");
        QCOMPARE(qs.size(), size_t(2));
        QCOMPARE(qs[0].subject, std::string("kitchen_science"));
        QCOMPARE(qs[0].answer, 2);
        QCOMPARE(qs[1].answer, 1);
        QCOMPARE(qs[0].choices[2], std::string("spoon, the correct one"));
        // The harness prompt, written out by hand (the CRLF inside the quoted question is kept, as Python's csv does).
        QCOMPARE(mmlu_prompt(qs[0]),
                 std::string("The following are multiple choice questions (with answers) about kitchen science.\n\n"
                             "Which tool, of these, is \"correct\" for\r\nstirring soup?\nA. fork\nB. knife\n"
                             "C. spoon, the correct one\nD. plate\nAnswer:"));
        MarkerSource src;
        const auto r = run_mmlu(src, qs);
        // Q1: the marker is on C = the answer; Q2: the marker is on D, the answer is B.
        QCOMPARE(r.predictions, (std::vector<int>{2, 3}));
        QCOMPARE(r.overall.n, int64_t(2));
        QCOMPARE(r.overall.correct, int64_t(1));
        QCOMPARE(r.overall.acc(), 0.5);
        QCOMPARE(r.overall.stderr_(), 0.5);  // sqrt(0.5 * 0.5 / (2 - 1))
        QCOMPARE(r.subjects.size(), size_t(1));
        QCOMPARE(r.subjects.at("kitchen_science").acc(), 0.5);
        QCOMPARE(src.prompts.size(), size_t(2));
        QVERIFY(src.prompts[1].find("about kitchen science.\n\nWhat is 2+2?\nA. three\n") != std::string::npos);
    }

    void piqaScoringWithKnownAnswers() {
        const auto items = load_piqa(data_dir() / "piqa");
        QCOMPARE(items.size(), size_t(2));
        QCOMPARE(piqa_context(items[0]), std::string("Question: How do I stir soup?\nAnswer:"));
        QCOMPARE(utf8_length("Café!"), int64_t(5));
        TableSource src;
        src.table = {{" Use a spoon.", -6.0}, {" Use a very long shovel to do it.", -8.0}, {" Café!", -5.0}, {" Tea.", -3.6}};
        const auto r = run_piqa(src, items);
        // Item 1 (label 1): sum prefers sol1 (-6 > -8); per character sol2 (-8/32 > -6/12).
        // Item 2 (label 1): sum prefers sol2; per code point sol2 (-3.6/4 > -5/5), per byte it would be sol1 (-5/6).
        QCOMPARE(r.predictions, (std::vector<int>{0, 1}));
        QCOMPARE(r.predictions_norm, (std::vector<int>{1, 1}));
        QCOMPARE(r.acc.acc(), 0.5);
        QCOMPARE(r.acc_norm.acc(), 1.0);
        QCOMPARE(r.acc_norm.stderr_(), 0.0);
        QCOMPARE(r.acc.stderr_(), 0.5);
    }

    void malformedInputsNameFileAndLine() {
        const fs::path three = data_dir() / "bad" / "mmlu_three_choices";
        const std::string m1 = error_of([&] { load_mmlu(three); });
        QCOMPARE(m1, (three / "test" / "three_choices_test.csv").string() +
                         ":2: expected 6 fields (question,A,B,C,D,answer), got 5");
        QCOMPARE(error_of([] { parse_mmlu_csv("q,a,b,c,d,E\n", "s", "s_test.csv"); }),
                 std::string("s_test.csv:1: answer 'E' is not A, B, C or D"));
        QCOMPARE(error_of([] { parse_mmlu_csv("q,a,b,c,d,A\n\"q2,a,b,c,d,B\n", "s", "s_test.csv"); }),
                 std::string("s_test.csv:2: unterminated quoted field (the file ends inside quotes)"));
        QVERIFY(error_of([] { load_mmlu(data_dir() / "piqa"); }).find("no MMLU files") != std::string::npos);

        const fs::path bj = data_dir() / "bad" / "piqa_json";
        const std::string m2 = error_of([&] { load_piqa(bj); });
        QVERIFY2(m2.rfind((bj / "valid.jsonl").string() + ":2: malformed JSON (", 0) == 0, m2.c_str());
        QVERIFY(m2.find('\n') == std::string::npos);
        const fs::path bc = data_dir() / "bad" / "piqa_count";
        QCOMPARE(error_of([&] { load_piqa(bc); }),
                 (bc / "valid-labels.lst").string() + ": 2 labels for 3 items in " + (bc / "valid.jsonl").string() +
                     " (the counts must match)");
        QCOMPARE(error_of([] { parse_piqa("{\"goal\":\"g\",\"sol1\":\"a\"}\n", "v.jsonl", "0\n", "l.lst"); }),
                 std::string("v.jsonl:1: missing string field 'sol2'"));
        QCOMPARE(error_of([] { parse_piqa("{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n", "v.jsonl", "2\n", "l.lst"); }),
                 std::string("l.lst:1: label '2' is not 0 or 1"));
        // --limit does not hide a count mismatch further down the files.
        QVERIFY(!error_of([&] { load_piqa(bc, 1); }).empty());
    }

    void limitFollowsTheDocumentedOrder() {
        const fs::path dir = mixq_test::scratch("eval_limit");
        fs::create_directories(dir / "test");
        // Written in reverse order: the task order is by file name, then rows.
        std::ofstream(dir / "test" / "zoology_test.csv") << "z1,a,b,c,d,A\nz2,a,b,c,d,B\n";
        std::ofstream(dir / "test" / "astronomy_test.csv") << "a1,a,b,c,d,C\na2,a,b,c,d,D\n";
        std::ofstream(dir / "test" / "notes.txt") << "not a subject";
        const auto all = load_mmlu(dir);
        QCOMPARE(all.size(), size_t(4));
        const auto three = load_mmlu(dir, 3);
        QCOMPARE(three.size(), size_t(3));
        QCOMPARE(three[0].question, std::string("a1"));
        QCOMPARE(three[1].question, std::string("a2"));
        QCOMPARE(three[2].question, std::string("z1"));
        QCOMPARE(three[2].subject, std::string("zoology"));
        QCOMPARE(load_piqa(data_dir() / "piqa", 1).size(), size_t(1));
    }

    void rowKldClosedForm() {
        // p = softmax(0, ln 3) = (1/4, 3/4), q = softmax(0, 0) = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2).
        const float p[2] = {0.0f, std::log(3.0f)}, q[2] = {5.0f, 5.0f};
        const double want = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
        QVERIFY(std::fabs(row_kld(p, q, 2) - want) < 1e-7);
        QCOMPARE(row_kld(p, p, 2), 0.0);
        const float bad[2] = {0.0f, NAN};
        QVERIFY(std::isnan(row_kld(p, bad, 2)));
    }

    void stderrFormula() {
        Accuracy a;
        for (int i = 0; i < 10; ++i) a.add(i < 3);
        QCOMPARE(a.acc(), 0.3);
        QVERIFY(std::fabs(a.stderr_() - std::sqrt(0.3 * 0.7 / 9.0)) < 1e-15);
    }

    void sharedDataLoads() {
        const auto qs = load_mmlu(mixq_test::eval_data_dir() / "mmlu");
        QCOMPARE(qs.size(), size_t(5700));  // 57 subjects x 100 (shared/README.md)
        std::map<std::string, int> per;
        for (const auto& q : qs) ++per[q.subject];
        QCOMPARE(per.size(), size_t(57));
        for (const auto& [s, n] : per) QCOMPARE(n, 100);
        QCOMPARE(qs.front().subject, std::string("abstract_algebra"));
        QCOMPARE(qs.back().subject, std::string("world_religions"));
        // First row of the first file: a quoted question with commas, quoted choices.
        QVERIFY(qs[0].question.rfind("Statement 1 | If T: V -> W is a linear transformation", 0) == 0);
        QCOMPARE(qs[0].choices[0], std::string("True, True"));
        QCOMPARE(qs[0].answer, 0);
        const auto items = load_piqa(mixq_test::eval_data_dir() / "piqa");
        QCOMPARE(items.size(), size_t(1838));
        QCOMPARE(items[0].goal, std::string("How do I ready a guinea pig cage for it's new occupants?"));
        QCOMPARE(items[0].label, 0);
        QCOMPARE(items[1].label, 1);
    }
};

QTEST_APPLESS_MAIN(TestEvalTasks)
#include "test_eval_tasks.moc"
