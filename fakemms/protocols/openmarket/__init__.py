"""OpenMarket HTTP MMS API v2: send (MT), and the MO and REPORT callbacks."""
