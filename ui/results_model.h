// SPDX-License-Identifier: MIT
// ResultRow and ResultsModel: the evaluation results of the open model (one row per evaluated baseline, export or
// plan), owned by the StudioSession so the Results table, its charts and the frontier's measured points read one
// list. Baselines are kept first; a baseline replaces the one measured on the same questions.
#pragma once
#include <QList>
#include <QObject>
#include <QString>
#include <limits>
#include <vector>

namespace mixq::ui {

struct ResultRow {
    static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
    QString label;
    QString kind;  ///< "baseline", "export", "plan"
    double avg_bits = 0.0, size_bytes = 0.0;
    /// mmlu, piqa acc, piqa acc_norm, ppl, prefill tok/s, decode tok/s (NaN when not measured)
    double metrics[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    /// What measured the tokens/s ("ONNX Runtime 1.30.0, CPU, 2 threads", "MixQ CPU engine (fp32), 2 threads", ...):
    /// shown with the figures; speed deltas are drawn only between rows measured by the same runtime.
    QString speed_runtime;
    /// Per metric: how many items it was measured on (questions, PIQA items, perplexity tokens) and its standard
    /// error (sqrt(p(1-p)/(n-1)) for accuracies); NaN when not measured / not defined.
    double n[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    double err[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    /// The questions the row was measured on (tasks, data folders, limits; ui/eval_request.h). A row's deltas are to
    /// the baseline with the same key; none is drawn against a baseline measured on other questions.
    QString eval_key;
    QString eval_text;  ///< the same, readable ("MMLU 20 · PIQA 20")
    /// Measured KL(p_baseline || p_this) per token over the perplexity text, and the plan's predicted KLD (NaN when
    /// not measured / unknown); a measured KLD above kKldFlagRatio times the prediction is flagged.
    double measured_kld = kNone, predicted_kld = kNone;
    static constexpr double kKldFlagRatio = 1.5;

    /// measured / predicted KLD when both are known and the prediction is positive, else NaN.
    double kldRatio() const;
    /// True when the measurement exceeds kKldFlagRatio times the prediction.
    bool kldFlagged() const { return kldRatio() > kKldFlagRatio; }
};

class ResultsModel : public QObject {
    Q_OBJECT
public:
    explicit ResultsModel(QObject* parent = nullptr);

    const std::vector<ResultRow>& rows() const { return m_rows; }
    int size() const { return static_cast<int>(m_rows.size()); }
    /// Adds a row (a baseline replaces the baseline of the same eval_key and is kept before every other row).
    void add(const ResultRow& row);
    /// Removes the given row indices (out-of-range ones are ignored); no signal when nothing was removed.
    void remove(QList<int> rows);
    void clear();
    /// Replaces every row (restoring a model's stored results); one `changed`.
    void setRows(const std::vector<ResultRow>& rows);
    /// The baseline a row's deltas are taken from (same eval_key), or null.
    const ResultRow* baselineFor(const ResultRow& row) const;

signals:
    void changed();

private:
    void insert(const ResultRow& row);
    std::vector<ResultRow> m_rows;
};

}  // namespace mixq::ui
