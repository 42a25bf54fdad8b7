"""Who may use the gateway's pages when they listen on the school's network: staff PINs, paired devices."""
