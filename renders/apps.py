from django.apps import AppConfig


class RendersConfig(AppConfig):
    name = "renders"

    def ready(self) -> None:
        # Imported here, as Django expects: these need the app registry ready.
        from accounts.features import flag_keys_register
        from renders import signals  # noqa: F401 (connects the receivers)
        from renders.limits import render_limits_flag_keys
        from renders.selectors import preset_flag_keys

        flag_keys_register(render_limits_flag_keys)
        flag_keys_register(preset_flag_keys)
