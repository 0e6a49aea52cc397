// Package registry knows who is who: sellers and resellers (records in
// BucketRegistry, written under compare-and-set, read from an in-memory
// View kept current by a KV watch), their tokens, webhooks, TMF hubs,
// notify and callback settings (with the callback dial policy), which
// reseller owns an item (Owners) and which delivery stream stores each
// reseller's copies (Layout).
//
// It imports events, relay (contracts) and relay/store; the audit trail
// and the consumers it changes are reached through the Auditor and
// ConsumerSync funcs and the Streams interface.
package registry
