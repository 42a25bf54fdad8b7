"""What the gateway and the cloud both speak, and nothing else: the project's ground floor.

    contract         gateway → cloud: events, ingest batches, their HMAC signature
    roster_contract  cloud → gateway: the versioned roster delta, meal rules, dishes, set meals
    languages        kk / ru / en, and the language a request asks for
    i18n             the translator and its catalogs (``locale/<lang>/LC_MESSAGES/messages.po``)
    localtime        Kazakhstan's local day (Asia/Almaty): days, months, deadlines
    pins             the canteen PIN hash format the cloud writes and the gateway checks offline

It imports nothing else of the project (a test checks it), so a gateway is deployed with this
package and ``device_drivers`` and ``gateway``, never the cloud.
"""
