package core

// UnbanForTest lifts the guard's ban of a reseller, so that one test can
// try several floods in a row.
func (r *Relay) UnbanForTest(reseller string) {
	r.tenants.mu.Lock()
	defer r.tenants.mu.Unlock()
	delete(r.tenants.banned, reseller)
}
