from django.core.management.base import CommandError

from accounts.selectors import active_user_find
from clips.demo import demo_clip_ensure
from core.commands import ServiceCommand
from renders.demo import presets_ensure_defaults


class Command(ServiceCommand):
    help = "Create the default render presets and a generated demo clip, so a first local render needs nothing else."

    def add_arguments(self, parser):
        parser.add_argument("--owner", help="Username or email of the clip's owner. Default: the first superuser.")

    def handle(self, *args, owner: str | None, **options) -> None:
        user = active_user_find(reference=owner)
        if user is None:
            raise CommandError("No such active user. Run `make run` once (it creates the admin) or pass --owner.")
        presets = presets_ensure_defaults()
        clip = demo_clip_ensure(owner=user)
        self.stdout.write(self.style.SUCCESS(f"Presets: {', '.join(p.slug for p in presets)}"))
        self.stdout.write(self.style.SUCCESS(f"Demo clip {clip.pk} for {user.username} ({clip.media_duration:.1f} s)"))
        self.stdout.write(
            "Render it: sign in at /admin/, open /api/renders/ and POST\n"
            f'  {{"clip": "{clip.pk}", "preset": "{presets[0].slug}", "props": {{"layout": "fit_blur"}}}}\n'
            "Add captions (the demo clip has a transcript): "
            '"props": {"layout": "fit_blur", "captions": {"style": "karaoke"}}'
        )
