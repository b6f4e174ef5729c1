package sandbox

import (
	"context"
	"os"
	"path/filepath"

	"github.com/plumbhq/plumb/render"
)

// warmEnv asks a worker to warm its renderers before it reads its request:
// set for spares, which wait anyway.
const warmEnv = "PLUMB_RENDER_WARM"

// warmFiles are a small overlay and a small chart: rendering them once
// pays what each renderer does on first use (Kustomize builds its OpenAPI
// schema, Helm its function map), so the request's render does not.
var warmFiles = map[string]string{
	"k/kustomization.yaml":       "resources: [cm.yaml]\nnamePrefix: w-\npatches:\n- patch: '{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\"},\"data\":{\"b\":\"2\"}}'\n",
	"k/cm.yaml":                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n",
	"h/Chart.yaml":               "apiVersion: v2\nname: warm\nversion: 0.1.0\n",
	"h/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name | trunc 63 }}\ndata:\n  v: {{ .Values.v | default \"x\" | quote }}\n",
}

// warm renders warmFiles from a temporary directory, then removes it.
// Failing to warm costs only time.
func warm() {
	dir, err := os.MkdirTemp("", "plumb-warm-")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	for name, content := range warmFiles {
		p := filepath.Join(dir, name)
		if os.MkdirAll(filepath.Dir(p), 0o700) != nil || os.WriteFile(p, []byte(content), 0o600) != nil {
			return
		}
	}
	for _, p := range []string{"k", "h"} {
		_, _ = render.Render(context.Background(), render.Source{Root: dir, Path: p}, render.Options{Namespace: "warm"})
	}
}
