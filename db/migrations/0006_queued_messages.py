from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_streaming_status')]

    initial = False

    operations = [
        ops.CreateModel(
            name='QueuedMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='queued_messages', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=16)),
                ('content', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'queued_messages', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A user message waiting behind the turn in progress, moved to the history when it runs.'},
            bases=['Model'],
        ),
    ]
