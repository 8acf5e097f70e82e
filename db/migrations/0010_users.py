from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_notice_details')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ChatSession',
            name='owner',
            field=fields.CharField(null=True, db_index=True, max_length=128),
        ),
        ops.AddField(
            model_name='Message',
            name='author',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='QueuedMessage',
            name='author',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
