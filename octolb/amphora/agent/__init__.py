"""The amphora agent: a small mutual-TLS REST server that installs and runs HAProxy
configurations and sends signed heartbeats.

It runs alone inside an amphora, so it imports only the standard library and this
package: nothing from the controller, the database or the API.
"""

API_VERSION = "1.0"
