"""Microsoft Dynamics 365 presets: Business Central (API v2.0) and Dataverse (Sales).

Both sign in to the Microsoft identity platform with an app registration's
client credentials (:mod:`.identity`) and read OData v4 services whose pages
continue through ``@odata.nextLink`` (:mod:`.odata`).
"""
