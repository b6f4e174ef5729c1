package health

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/render"
)

func mustParse(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u, err := render.ParseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const deployHead = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop, generation: 2}\n"

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want Status
	}{
		{"deployment rolled out", deployHead + "spec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, conditions: [{type: Available, status: 'True'}, {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}]}\n", Healthy},
		{"deployment rolling", deployHead + "spec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}\n", Progressing},
		{"deployment not yet observed", deployHead + "spec: {replicas: 2}\nstatus: {observedGeneration: 1}\n", Progressing},
		{"deployment past progress deadline", deployHead + "spec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: 'ReplicaSet web-1 has timed out progressing.'}]}\n", Degraded},
		{"paused deployment", deployHead + "spec: {replicas: 2, paused: true}\nstatus: {observedGeneration: 2}\n", Suspended},
		{"load balancer without address", "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer}\n", Progressing},
		{"load balancer with address", "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 10.0.0.9}]}}\n", Healthy},
		{"cluster IP service", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {type: ClusterIP}\n", Healthy},
		{"failed pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {phase: Failed, message: OOMKilled}\n", Degraded},
		{"running job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {active: 1}\n", Progressing},
		{"complete job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {succeeded: 1, conditions: [{type: Complete, status: 'True'}]}\n", Healthy},
		{"failed job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {failed: 3, conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]}\n", Degraded},
		{"lost claim", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nstatus: {phase: Lost}\n", Degraded},
		{"config map", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", Healthy},
		{"custom resource Ready false", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Ready, status: 'False', reason: Waiting}]}\n", Progressing},
		{"custom resource stalled", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Stalled, status: 'True', reason: BadConfig}]}\n", Degraded},
		{"being deleted", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, deletionTimestamp: '2026-01-01T00:00:00Z'}\n", Progressing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Of(mustParse(t, tt.obj))
			if diff := cmp.Diff(tt.want, got.Status); diff != "" {
				t.Errorf("health (-want +got):\n%s\nreason: %s", diff, got.Reason)
			}
		})
	}
	if got := Of(nil).Status; got != Missing {
		t.Errorf("Of(nil) = %s, want Missing", got)
	}
}

func TestAggregateWorstChildWins(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
	}{
		{"empty", nil, Healthy},
		{"all healthy", []Status{Healthy, Healthy}, Healthy},
		{"one progressing", []Status{Healthy, Progressing, Suspended}, Progressing},
		{"degraded beats missing", []Status{Missing, Degraded, Progressing}, Degraded},
		{"missing beats unknown", []Status{Unknown, Missing}, Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []Result
			for _, s := range tt.in {
				rs = append(rs, Result{Status: s})
			}
			if diff := cmp.Diff(tt.want, Aggregate(rs).Status); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
