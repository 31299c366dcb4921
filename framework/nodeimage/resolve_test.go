package nodeimage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeEngine is an imageEngine that has the images in has and pulls with
// pullErr.
type fakeEngine struct {
	has     map[string]bool
	labels  map[string]map[string]string
	pullErr error
	pulled  []string
}

func (f *fakeEngine) Labels(_ context.Context, ref string) (map[string]string, error) {
	return f.labels[ref], nil
}

func (f *fakeEngine) HasImage(_ context.Context, ref string) bool { return f.has[ref] }

func (f *fakeEngine) Pull(_ context.Context, ref string) error {
	f.pulled = append(f.pulled, ref)
	return f.pullErr
}

func TestResolve(t *testing.T) {
	t.Parallel()
	clamped := map[string]string{LabelImage: "node", LabelBuild: `{"go":"go1.25","restrictOOMScoreAdj":true}`}
	unclamped := map[string]string{LabelImage: "node", LabelBuild: `{"go":"go1.25","restrictOOMScoreAdj":false}`}
	refused := errors.New(`Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`)
	tests := []struct {
		name       string
		rc         ResolveConfig
		engine     fakeEngine
		wantImage  string
		wantSource string
		wantPulled []string
		wantReason string // in Resolution.Reason and the progress line
		wantBuilt  bool
		wantErr    string
	}{
		{name: "pull ok: use it", engine: fakeEngine{}, wantImage: "kindest/node:v1.37.2", wantSource: SourcePulled,
			wantPulled: []string{"kindest/node:v1.37.2"}},
		{name: "already in the engine: no pull", engine: fakeEngine{has: map[string]bool{"kindest/node:v1.37.2": true}},
			wantImage: "kindest/node:v1.37.2", wantSource: SourceLocal},
		{name: "configured reference", rc: ResolveConfig{Pull: "127.0.0.1:5000/kindest/node:v1.37.2"}, engine: fakeEngine{},
			wantImage: "127.0.0.1:5000/kindest/node:v1.37.2", wantSource: SourcePulled, wantPulled: []string{"127.0.0.1:5000/kindest/node:v1.37.2"}},
		{name: "pull refused: build, saying why", engine: fakeEngine{pullErr: refused}, wantImage: "pvreboot/node:v1.37.2",
			wantSource: SourceBuilt, wantPulled: []string{"kindest/node:v1.37.2"}, wantBuilt: true,
			wantReason: "pull kindest/node:v1.37.2: Error response from daemon"},
		{name: "--build-node-image: build without pulling", rc: ResolveConfig{ForceBuild: true},
			engine: fakeEngine{has: map[string]bool{"kindest/node:v1.37.2": true}}, wantImage: "pvreboot/node:v1.37.2",
			wantSource: SourceBuilt, wantBuilt: true, wantReason: "--build-node-image"},
		{name: "host without CAP_SYS_RESOURCE: build", rc: ResolveConfig{RestrictOOMScoreAdj: true},
			engine: fakeEngine{}, wantImage: "pvreboot/node:v1.37.2", wantSource: SourceBuilt, wantBuilt: true, wantReason: "CAP_SYS_RESOURCE"},
		{name: "no CAP_SYS_RESOURCE: kind's image in the engine is not used", rc: ResolveConfig{RestrictOOMScoreAdj: true},
			engine: fakeEngine{has: map[string]bool{"kindest/node:v1.37.2": true}}, wantImage: "pvreboot/node:v1.37.2",
			wantSource: SourceBuilt, wantBuilt: true, wantReason: "not an image pvreboot built for such hosts"},
		{name: "no CAP_SYS_RESOURCE: a pushed pvreboot image with the clamp is pulled and used",
			rc:        ResolveConfig{RestrictOOMScoreAdj: true, Pull: "registry.example/pvreboot/node:v1.37.2"},
			engine:    fakeEngine{labels: map[string]map[string]string{"registry.example/pvreboot/node:v1.37.2": clamped}},
			wantImage: "registry.example/pvreboot/node:v1.37.2", wantSource: SourcePulled, wantPulled: []string{"registry.example/pvreboot/node:v1.37.2"}},
		{name: "no CAP_SYS_RESOURCE: a pulled image without the clamp is built instead",
			rc:        ResolveConfig{RestrictOOMScoreAdj: true, Pull: "registry.example/pvreboot/node:v1.37.2"},
			engine:    fakeEngine{labels: map[string]map[string]string{"registry.example/pvreboot/node:v1.37.2": unclamped}},
			wantImage: "pvreboot/node:v1.37.2", wantSource: SourceBuilt, wantBuilt: true,
			wantPulled: []string{"registry.example/pvreboot/node:v1.37.2"}, wantReason: "CAP_SYS_RESOURCE"},
		{name: "bad reference", rc: ResolveConfig{Pull: "--help"}, engine: fakeEngine{}, wantErr: "node image to pull"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var progress bytes.Buffer
			tt.rc.Progress = &progress
			built := false
			tt.rc.Build = func(context.Context) (Result, error) {
				built = true
				return Result{Image: "pvreboot/node:v1.37.2"}, nil
			}
			res, err := resolve(context.Background(), tt.rc, &tt.engine)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if built || len(tt.engine.pulled) > 0 {
					t.Errorf("built %v, pulled %v on a bad reference", built, tt.engine.pulled)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Image != tt.wantImage || res.Source != tt.wantSource || built != tt.wantBuilt {
				t.Errorf("got image %q from %q (built %v), want %q from %q (built %v)", res.Image, res.Source, built, tt.wantImage, tt.wantSource, tt.wantBuilt)
			}
			if strings.Join(tt.engine.pulled, ",") != strings.Join(tt.wantPulled, ",") {
				t.Errorf("pulled %v, want %v", tt.engine.pulled, tt.wantPulled)
			}
			if tt.wantReason != "" {
				if !strings.Contains(res.Reason, tt.wantReason) || !strings.Contains(progress.String(), tt.wantReason) {
					t.Errorf("reason %q, progress %q: want both to say %q", res.Reason, progress.String(), tt.wantReason)
				}
			} else if res.Reason != "" || res.NotPulled != nil {
				t.Errorf("reason %q for a standard image", res.Reason)
			}
		})
	}
}
