package render

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLookupIsWarnedAbout(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"c/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"c/templates/secret.yaml": "{{- $old := lookup \"v1\" \"Secret\" .Release.Namespace \"web\" }}\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {had: {{ empty $old | not | quote }}}\n",
		"c/templates/chained.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: chained}\ndata: {v: {{ (lookup \"v1\" \"ConfigMap\" \"ns\" \"x\").data | toJson | quote }}}\n",
		"c/templates/quiet.yaml":         "{{/* lookup would be wrong here */}}\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: quiet}\ndata: {word: \"lookup\"}\n",
		"c/charts/sub/Chart.yaml":        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"c/charts/sub/templates/_h.tpl":  "{{- define \"sub.ns\" }}{{ if (lookup \"v1\" \"Namespace\" \"\" \"x\") }}x{{ end }}{{- end }}\n",
		"c/charts/sub/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sub}\ndata: {ns: {{ include \"sub.ns\" . | quote }}}\n",
	})
	res, err := Render(context.Background(), Source{Root: root, Path: "c"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"web/charts/sub/templates/_h.tpl: calls lookup, which returns nothing here: plumb renders charts without reading the cluster",
		"web/templates/chained.yaml: calls lookup, which returns nothing here: plumb renders charts without reading the cluster",
		"web/templates/secret.yaml: calls lookup, which returns nothing here: plumb renders charts without reading the cluster",
	}
	if d := cmp.Diff(want, res.Warnings); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}
