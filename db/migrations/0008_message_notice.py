from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_session_epochs')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Message',
            name='notice',
            field=fields.BooleanField(default=False),
        ),
    ]
