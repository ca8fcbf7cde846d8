//! Behaviour: ownership and onboardingState, the DevOps LRO flow with OAuth codes, region
//! outages, and the support desk releasing a lost connector's orgs to its replacement.
