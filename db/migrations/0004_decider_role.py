from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_running_since')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Approval',
            name='decider_role',
            field=fields.CharField(null=True, max_length=16),
        ),
    ]
