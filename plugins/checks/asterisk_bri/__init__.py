"""check_asterisk_bri: BRI ports up, idle and down, from chan_misdn and chan_dahdi/libpri."""
