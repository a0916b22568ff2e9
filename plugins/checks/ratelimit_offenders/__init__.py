"""check_ratelimit_offenders: senders at or near their quota, from the policy daemon's database"""
