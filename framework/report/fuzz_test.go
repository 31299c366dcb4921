package report

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pvreboot/pvreboot/framework/budget"
)

// FuzzDecode: a result or probe report from anywhere (a pod's output, a
// stored baseline) never panics the decoder, the renderers or the verdict.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"pvreboot.dev/probe/v1","iterations":[{"calls":[{"bytes":1,"ns":-5}]}],"summary":{"p50Ns":1e308}}`))
	f.Add([]byte(`{"schema":"pvreboot.dev/result/v1","phases":[{"name":"baseline","probe":null},{"name":"after-reboot","probe":{"iterations":[]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		r.Verdict = budget.Evaluate([]budget.Budget{
			{Kind: budget.Relative, Phase: "after-reboot", Metric: "p50", RelativeTo: "baseline", MaxRatio: 2},
			{Kind: budget.Statistical, Phase: "after-reboot", RelativeTo: "baseline", MaxSlowdown: 2, Alpha: 0.01},
		}, r.BudgetPhases())
		r.Diagnosis = DiagnoseResult(r)
		for _, format := range Formats {
			_ = Render(io.Discard, r, format)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Skip("not representable as JSON:", err)
		}
	})
}
