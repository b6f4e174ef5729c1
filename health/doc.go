// Package health says whether applied objects have finished rolling out:
// kstatus for any resource with standard conditions, plus rules where kstatus
// answers a different question (paused Deployments, progress deadlines, Jobs,
// failed Pods, LoadBalancer Services, lost volumes). Of is a pure function of
// one object; waiting, polling and progress are a separate layer on top.
//
// It is the last stage of the pipeline and imports none of the others.
package health
