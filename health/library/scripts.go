package library

import (
	"context"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/health"
)

// Script is a user's Lua health check for one kind, as Argo CD users write
// them (resource.customizations.health.<group_kind> in argocd-cm).
type Script struct {
	APIVersion string // "group/version", or "group/*"
	Kind       string
	Lua        string
}

// userTimeout is a user's script's budget, tighter than the library's.
const userTimeout = 250 * time.Millisecond

// Scripts are compiled user scripts from one source ("App", "controller").
type Scripts struct {
	source string
	byKind map[schema.GroupKind]*userScript
}

type userScript struct {
	name  string
	proto *lua.FunctionProto
}

// CompileScripts compiles scripts; an error names the script.
func CompileScripts(scripts []Script, source string) (*Scripts, error) {
	out := &Scripts{source: source, byKind: map[schema.GroupKind]*userScript{}}
	for i, s := range scripts {
		gv, err := schema.ParseGroupVersion(s.APIVersion)
		if err != nil || s.Kind == "" || s.APIVersion == "" {
			return nil, fmt.Errorf("health rule %d: apiVersion %q and kind %q must both be set", i, s.APIVersion, s.Kind)
		}
		name := fmt.Sprintf("%s/%s (%s Lua rule)", gv.Group, s.Kind, source)
		proto, err := compile(name, s.Lua)
		if err != nil {
			return nil, fmt.Errorf("health rule %d: %w", i, err)
		}
		gk := schema.GroupKind{Group: gv.Group, Kind: s.Kind}
		if _, dup := out.byKind[gk]; !dup {
			out.byKind[gk] = &userScript{name: name, proto: proto}
		}
	}
	return out, nil
}

// Rate implements health.Library. Each run has a fresh Lua state (a user's
// script may change the libraries) and the time budget.
func (s *Scripts) Rate(u *unstructured.Unstructured) (health.Result, bool) {
	if s == nil {
		return health.Result{}, false
	}
	us, ok := s.byKind[u.GroupVersionKind().GroupKind()]
	if !ok {
		return health.Result{}, false
	}
	res := health.Result{Source: us.name}
	st, msg, err := runUser(us.proto, u.Object)
	if err != nil {
		res.Status, res.Reason = health.Unknown, "health script: "+err.Error()
		return res, true
	}
	res.Status, res.Reason = st, msg
	return res, true
}

// runUser runs a user's script in a state of its own within the time
// budget. gopher-lua has no heap limit: the time budget bounds what a
// script can allocate (a loop that keeps 1 MiB strings reached 61 MiB
// here before it was stopped; docs/health.md).
func runUser(proto *lua.FunctionProto, obj map[string]any) (health.Status, string, error) {
	L := newState() // never reused: a user's script may change the libraries
	defer L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), userTimeout)
	defer cancel()
	st, msg, err := runIn(ctx, L, proto, obj)
	if err != nil && ctx.Err() != nil {
		return "", "", fmt.Errorf("over the %s time budget", userTimeout)
	}
	return st, msg, err
}
