"""check_asterisk_fxo: analog FXO lines (telco lines) with and without battery, over AMI."""
