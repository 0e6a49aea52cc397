// Package events is billrelay's domain: the CloudEvents 1.0 envelope every
// status change travels in, the catalog of event types and the service and
// order state sets, the vocabulary mapping from the billing platforms, the
// validation that names every bad field, and the subjects events are stored
// and delivered under.
//
// It imports only the standard library so that every adapter and the relay
// agree on one definition of a valid event, and so that it can be fuzzed in
// isolation.
package events
